// fuzz_tokenizer_encode: fuzz_tokenizer.cpp's encoding target (fixed tokenizers, fuzzed text).
#define MOE_FUZZ_ENCODE
#include "fuzz_tokenizer.cpp"
