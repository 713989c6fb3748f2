#!/usr/bin/env node
// Reference token ids from Hugging Face `tokenizers` (its native Node binding, @anush008/tokenizers) for the
// tokenizer parity test and its recorded fixtures (tests/data/tokenizers/<name>.json).
//
//   node tools/tokenizer_reference.js TOKENIZER_JSON TEXTS_JSON [NAME]
//
// TEXTS_JSON is a JSON list of strings. Prints one JSON document: for every text the ids without and with the
// post-processor's special tokens (add_special_tokens=false/true) and the reference decodes of those ids.
// The binding is found through NODE_PATH (tools/fetch-tokenizer-reference.sh installs it and prints the path).
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [tokenizerPath, textsPath, name] = process.argv.slice(2);
  if (!tokenizerPath || !textsPath) {
    console.error('usage: tokenizer_reference.js TOKENIZER_JSON TEXTS_JSON [NAME]');
    process.exit(2);
  }
  const {Tokenizer} = require('@anush008/tokenizers');
  let version = 'unknown';
  try {
    version = require('@anush008/tokenizers/package.json').version;
  } catch (e) {
  }
  const tok = Tokenizer.fromFile(path.resolve(tokenizerPath));
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  if (!Array.isArray(texts)) throw new Error(textsPath + ': expected a JSON list of strings');
  const cases = [];
  for (const text of texts) {
    const plain = await tok.encode(text, null, {addSpecialTokens: false});
    const special = await tok.encode(text, null, {addSpecialTokens: true});
    const ids = Array.from(plain.getIds());
    const idsSpecial = Array.from(special.getIds());
    cases.push({
      text,
      ids,
      ids_special: idsSpecial,
      decoded: await tok.decode(ids, false),
      decoded_special: await tok.decode(idsSpecial, false),
      decoded_skip_special: await tok.decode(idsSpecial, true),
    });
  }
  const out = {
    name: name || path.basename(path.dirname(path.resolve(tokenizerPath))),
    reference: '@anush008/tokenizers ' + version + ' (Hugging Face tokenizers, native Node binding)',
    cases,
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

main().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
