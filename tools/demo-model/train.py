#!/usr/bin/env python3
"""Trains the built-in demo model (Qwen3MoeForCausalLM, 8 experts, top-2) and writes the model folder.

Runs on the GPU machine (torch, transformers 5, tokenizers, safetensors, matplotlib). One command of under
10 minutes: tokenize the corpus made by prepare_data.py, train in bf16 autocast with fp32 master weights
(AdamW, linear warmup, cosine decay, per-layer load-balancing loss), then export and evaluate:

  OUT/demo-model/            config.json, model.safetensors (bf16), generation_config.json, tokenizer.json,
                             tokenizer_config.json (ChatML chat_template), heldout.json, loss.png
  OUT/ckpt/                  adam_m.safetensors, adam_v.safetensors (bf16 moments), train_state.json: with the
                             exported bf16 weights, enough to resume (--resume)
  OUT/metrics.json           loss history, held-out perplexities, routing shares, samples, timings

Held-out perplexity (written to heldout.json for the engine test, tests/engine/test_demo_model.cpp) uses the
windowing of `moe-cli perplexity`: non-overlapping windows of ctx tokens, every token but the first of each
window scored; computed from the exported bf16 checkpoint reloaded in float32 on the CPU (eager attention and
experts), as the engine's CPU path computes it.

Usage (see README.md beside this file for the device commands):
  python3 train.py --data .demo-data/corpus.jsonl.xz --tokenizer resources/demo-model/tokenizer.json \
      --out $OUT --steps 6000 [--batch 64 --seq 512 --lr 2e-3] [--max-minutes 8] [--resume DIR_WITH_MODEL CKPT]
  python3 train.py ... --smoke      # a short run that reports parameters and tokens/s per experts backend
"""

import argparse
import copy
import json
import lzma
import math
import os
import shutil
import sys
import time

import torch
import torch.nn.functional as F

import transformers
from tokenizers import Tokenizer
from transformers import GenerationConfig, Qwen3MoeConfig, Qwen3MoeForCausalLM

EOT, IM_START, IM_END = 0, 1, 2
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
SAMPLE_CHATS = ["What does water mean?", "What does house mean?", "What does happy mean?", "Define music.",
                "What is a dog?", "What does it mean to run?", "Give an example of light used in a sentence.",
                "What's another word for big?", "What is the opposite of cold?"]
SAMPLE_PROSE = ["In the beginning", "And the LORD spake unto Moses, saying,", "hacker (n.)\n\n"]


def log(*a):
    print(*a, flush=True)


# ------------------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------------------
def load_corpus(path, tok, prose_repeat):
    t0 = time.time()
    docs = {"train": [], "heldout": []}
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            docs[d["split"]].append((d["src"], d["text"]))
    out = {}
    for split, items in docs.items():
        enc = tok.encode_batch([t for _, t in items], add_special_tokens=False)
        streams = {"all": [], "prose": [], "chat": []}
        for (src, _), e in zip(items, enc):
            ids = e.ids + [EOT]
            reps = prose_repeat if (split == "train" and src != "chat") else 1
            for _ in range(reps):
                streams["all"].extend(ids)
            streams["chat" if src == "chat" else "prose"].extend(ids)
        out[split] = {k: torch.tensor(v, dtype=torch.int32) for k, v in streams.items()}
        log(f"{split}: {len(items)} docs, tokens all={len(streams['all'])} prose={len(streams['prose'])} "
            f"chat={len(streams['chat'])}")
    log(f"tokenized in {time.time() - t0:.1f}s")
    return out


def batch_at(stream_gpu, step, seed, batch, seq):
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    offs = torch.randint(0, stream_gpu.numel() - seq - 1, (batch,), generator=g)
    idx = offs.to(stream_gpu.device)[:, None] + torch.arange(seq + 1, device=stream_gpu.device)[None, :]
    return stream_gpu[idx].long()


# ------------------------------------------------------------------------------------------------------------
# model
# ------------------------------------------------------------------------------------------------------------
def make_config(args, vocab):
    return Qwen3MoeConfig(
        vocab_size=vocab, hidden_size=args.hidden, intermediate_size=4 * args.hidden,
        moe_intermediate_size=args.moe_inter, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads, num_experts=8, num_experts_per_tok=2, norm_topk_prob=True,
        decoder_sparse_step=1, mlp_only_layers=[], max_position_embeddings=2048,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, rms_norm_eps=1e-6,
        tie_word_embeddings=True, router_aux_loss_coef=args.aux_coef, output_router_logits=True,
        attention_dropout=0.0, use_sliding_window=False, initializer_range=0.02,
        # no pad_token_id: nn.Embedding(padding_idx=0) would freeze <|endoftext|>'s (tied) row at zero
        pad_token_id=None, bos_token_id=None, eos_token_id=IM_END)


def set_impl(model, experts, attn):
    model.set_attn_implementation(attn)
    try:
        model.set_experts_implementation(experts)
    except Exception as e:  # noqa: BLE001
        log(f"set_experts_implementation({experts}) failed ({e!r}); setting config._experts_implementation")
        model.config._experts_implementation = experts


def balance_loss(router_logits, top_k):
    """Switch-style load-balancing loss per MoE layer, averaged over layers (1.0 when balanced), and the
    share of the routed (token, slot) assignments each expert got, [layers, E]."""
    losses, shares = [], []
    for r in router_logits:
        p = torch.softmax(r.float(), dim=-1)
        E = p.shape[-1]
        idx = torch.topk(p, top_k, dim=-1).indices.reshape(-1)
        counts = torch.zeros(E, device=p.device).scatter_add_(0, idx, torch.ones_like(idx, dtype=torch.float32))
        f = counts / idx.numel()  # no host sync, unlike bincount
        losses.append(E * torch.sum(f * p.mean(dim=0)))
        shares.append(f)
    return torch.stack(losses).mean(), torch.stack(shares)


def param_groups(model, wd):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def eval_loss(model, stream_gpu, seq, n_windows, dev):
    model.eval()
    n = min(n_windows, (stream_gpu.numel() - 1) // (seq + 1))
    x = stream_gpu[: n * (seq + 1)].view(n, seq + 1).long()
    tot, cnt = 0.0, 0
    for i in range(0, n, 32):
        xb = x[i:i + 32]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=xb[:, :-1], use_cache=False).logits
        tot += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), xb[:, 1:].reshape(-1),
                               reduction="sum").item()
        cnt += xb[:, 1:].numel()
    model.train()
    return tot / cnt


# ------------------------------------------------------------------------------------------------------------
# evaluation of the exported folder
# ------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def windowed_perplexity(model, ids, ctx, dev, batch=32):
    """moe-cli perplexity: non-overlapping windows of ctx tokens, every token but each window's first scored;
    the last window may be shorter (at least 2 tokens)."""
    windows = [ids[s:s + ctx] for s in range(0, len(ids) - 1, ctx)]
    windows = [w for w in windows if len(w) >= 2]
    nll, scored = 0.0, 0
    full = [w for w in windows if len(w) == ctx]
    rest = [w for w in windows if len(w) != ctx]
    for i in range(0, len(full), batch):
        x = torch.tensor(full[i:i + batch], dtype=torch.long, device=dev)
        logits = model(input_ids=x, use_cache=False).logits.double()
        lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, x[:, 1:, None])
        nll -= lp.sum().item()
        scored += x[:, 1:].numel()
    for w in rest:
        x = torch.tensor([w], dtype=torch.long, device=dev)
        logits = model(input_ids=x, use_cache=False).logits.double()
        nll -= torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, x[:, 1:, None]).sum().item()
        scored += len(w) - 1
    return math.exp(nll / scored), scored


@torch.no_grad()
def routing_shares(model, ids, ctx, dev):
    E, k = model.config.num_experts, model.config.num_experts_per_tok
    counts = None
    for s in range(0, len(ids) - 1, ctx):
        w = ids[s:s + ctx]
        if len(w) < 2:
            break
        out = model(input_ids=torch.tensor([w], device=dev), use_cache=False, output_router_logits=True)
        c = torch.stack([torch.bincount(torch.topk(torch.softmax(r.float(), -1), k, -1).indices.reshape(-1),
                                        minlength=E) for r in out.router_logits]).cpu()
        counts = c if counts is None else counts + c
    shares = counts.double() / counts.sum(dim=1, keepdim=True)
    return shares.tolist()


def tokenizer_config():
    added = {str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                      "special": True} for i, s in enumerate(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])}
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": 2048,
        "split_special_tokens": False,
        "chat_template": CHAT_TEMPLATE,
    }


def export(model, args, tok_path, folder):
    os.makedirs(folder, exist_ok=True)
    m = copy.deepcopy(model).to(torch.bfloat16)
    m.config.output_router_logits = False  # training-only switch; the loss coefficient stays as trained
    m.config.use_cache = True
    m.generation_config = GenerationConfig(bos_token_id=None, eos_token_id=[IM_END, EOT], pad_token_id=EOT,
                                           do_sample=True, temperature=0.7, top_p=0.9, top_k=40,
                                           repetition_penalty=1.1)
    m.save_pretrained(folder)
    del m
    shutil.copy(tok_path, os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config(), f, indent=2, ensure_ascii=False)
        f.write("\n")
    for stray in ("chat_template.jinja", "special_tokens_map.json"):
        p = os.path.join(folder, stray)
        if os.path.exists(p):
            os.remove(p)
    sizes = {fn: os.path.getsize(os.path.join(folder, fn)) for fn in sorted(os.listdir(folder))}
    log(f"exported {folder}: {sizes}")
    return sizes


def reload(folder, dev):
    try:
        m = Qwen3MoeForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager",
                                                experts_implementation="eager")
    except TypeError as e:
        log(f"from_pretrained kwargs refused ({e!r}); dtype only")
        m = Qwen3MoeForCausalLM.from_pretrained(folder, dtype=torch.float32)
    m.to(dev).eval()
    set_impl(m, "eager", "eager")
    return m


def plot(history, evals, path, every):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=80)
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["ce"] for h in history], lw=1, label=f"train (cross-entropy, mean of {every} steps)")
    if evals:
        ax.plot([e["step"] for e in evals], [e["loss"] for e in evals], "o-", ms=3, lw=1, label="held-out")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_ylim(bottom=max(0.0, min([h["ce"] for h in history] + [e["loss"] for e in evals]) - 0.3),
                top=min(8.0, max(h["ce"] for h in history[2:] or history) + 0.3))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("MoE Studio demo model: training loss")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    log(f"loss curve: {path} ({os.path.getsize(path)} bytes)")


def chat_ids(tok, text):
    return tok.encode(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n",
                      add_special_tokens=False).ids


@torch.no_grad()
def samples(model, tok, dev, hf_tok=None):
    out = []
    for kind, prompts in (("chat", SAMPLE_CHATS), ("prose", SAMPLE_PROSE)):
        for p in prompts:
            ids = chat_ids(tok, p) if kind == "chat" else tok.encode(p, add_special_tokens=False).ids
            if hf_tok is not None and kind == "chat":
                t = hf_tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                               tokenize=False)
                hf_ids = hf_tok(t, add_special_tokens=False)["input_ids"]
                if hf_ids != ids:
                    log(f"WARNING: transformers' chat template gives {hf_ids}, expected {ids}")
            x = torch.tensor([ids], device=dev)
            rec = {"kind": kind, "prompt": p}
            for name, kw in (("greedy", dict(do_sample=False, repetition_penalty=1.0)),
                             ("greedy_rp1.1", dict(do_sample=False, repetition_penalty=1.1)),
                             ("sampled_t0.7_seed0", dict(do_sample=True, temperature=0.7, top_p=0.9, top_k=40,
                                                         repetition_penalty=1.1))):
                torch.manual_seed(0)
                g = model.generate(x, max_new_tokens=80 if kind == "chat" else 60, eos_token_id=[IM_END, EOT],
                                   pad_token_id=EOT, **kw)
                rec[name] = tok.decode(g[0, len(ids):].tolist(), skip_special_tokens=False)
            out.append(rec)
            log(f"--- [{kind}] {p!r}")
            for name in ("greedy", "greedy_rp1.1", "sampled_t0.7_seed0"):
                log(f"    {name}: {rec[name]!r}")
    return out


# ------------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".demo-data/corpus.jsonl.xz")
    ap.add_argument("--tokenizer", default="resources/demo-model/tokenizer.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--moe-inter", type=int, default=160)
    ap.add_argument("--aux-coef", type=float, default=0.01)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--prose-repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--experts-impl", default="grouped_mm")
    ap.add_argument("--max-minutes", type=float, default=8.0, help="stop training (then export) after this")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--heldout-windows", type=int, default=8, help="windows in heldout.json (the engine test)")
    ap.add_argument("--heldout-ctx", type=int, default=256)
    ap.add_argument("--resume", nargs=2, metavar=("MODEL_DIR", "CKPT_DIR"))
    ap.add_argument("--smoke", action="store_true", help="benchmark experts backends for a few steps")
    args = ap.parse_args()

    t_start = time.time()
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}")
    tok = Tokenizer.from_file(args.tokenizer)
    vocab = tok.get_vocab_size()
    data = load_corpus(args.data, tok, args.prose_repeat)
    train_stream = data["train"]["all"].to(dev)
    held_stream = data["heldout"]["all"].to(dev)

    config = make_config(args, vocab)
    torch.manual_seed(args.seed)
    start_step, history, evals = 0, [], []
    if args.resume:
        model = Qwen3MoeForCausalLM.from_pretrained(args.resume[0], dtype=torch.float32)
        model.config.output_router_logits = True
        with open(os.path.join(args.resume[1], "train_state.json")) as f:
            st = json.load(f)
        start_step, history, evals = st["step"], st["history"], st["evals"]
        log(f"resumed at step {start_step} from {args.resume}")
    else:
        model = Qwen3MoeForCausalLM(config)
    model.to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    n_expert = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
    per_expert = n_expert // (config.num_experts * config.num_hidden_layers)
    n_active = n_params - n_expert + per_expert * config.num_experts_per_tok * config.num_hidden_layers
    log(f"config: {model.config.to_json_string(use_diff=True)}")
    log(f"parameters: total {n_params:,} (bf16 {2 * n_params / 1e6:.2f} MB), experts {n_expert:,}, "
        f"active per token {n_active:,}")
    for n, p in model.named_parameters():
        log(f"  {n:50s} {tuple(p.shape)}")

    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    if args.resume:
        from safetensors.torch import load_file
        m_sd = load_file(os.path.join(args.resume[1], "adam_m.safetensors"))
        v_sd = load_file(os.path.join(args.resume[1], "adam_v.safetensors"))
        for n, p in model.named_parameters():
            opt.state[p] = {"step": torch.tensor(float(start_step), dtype=torch.float32, device=dev),
                            "exp_avg": m_sd[n].to(dev, torch.float32), "exp_avg_sq": v_sd[n].to(dev, torch.float32)}

    def train_steps(first, last, impl, timed=False):
        set_impl(model, impl, "sdpa")
        model.train()
        acc = {"ce": 0.0, "aux": 0.0, "n": 0}
        share_acc = None
        t0 = time.time()
        tokens = 0
        for step in range(first, last):
            for gr in opt.param_groups:
                gr["lr"] = lr_at(step, args)
            x = batch_at(train_stream, step, args.seed, args.batch, args.seq)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = model(input_ids=x[:, :-1], use_cache=False, output_router_logits=True)
            ce = F.cross_entropy(out.logits.float().reshape(-1, vocab), x[:, 1:].reshape(-1))
            aux, shares = balance_loss(out.router_logits, config.num_experts_per_tok)
            loss = ce + args.aux_coef * aux
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += x[:, 1:].numel()
            acc["ce"] += ce.detach()
            acc["aux"] += aux.detach()
            acc["n"] += 1
            share_acc = shares.detach() if share_acc is None else share_acc + shares.detach()
            if not timed and ((step + 1) % args.log_every == 0 or step + 1 == last):
                el = time.time() - t_start
                h = {"step": step + 1, "ce": (acc["ce"] / acc["n"]).item(), "aux": (acc["aux"] / acc["n"]).item(),
                     "lr": lr_at(step, args), "tokens": (step + 1) * args.batch * args.seq, "elapsed_s": el,
                     "min_share_per_layer": (share_acc / acc["n"]).min(dim=1).values.tolist()}
                history.append(h)
                torch.cuda.synchronize()
                tps = tokens / (time.time() - t0)
                log(f"step {step + 1:5d} ce {h['ce']:.4f} aux {h['aux']:.4f} lr {h['lr']:.2e} "
                    f"{tps / 1e3:.0f}k tok/s  min expert share/layer "
                    + " ".join(f"{s:.3f}" for s in h["min_share_per_layer"]))
                acc = {"ce": 0.0, "aux": 0.0, "n": 0}
                share_acc = None
                t0, tokens = time.time(), 0
            if not timed and ((step + 1) % args.eval_every == 0 or step + 1 == last):
                e = {"step": step + 1, "loss": eval_loss(model, held_stream, args.seq, 64, dev)}
                evals.append(e)
                log(f"  held-out loss {e['loss']:.4f} (ppl {math.exp(e['loss']):.2f})")
            if not timed and (time.time() - t_start) / 60 > args.max_minutes:
                log(f"time budget reached at step {step + 1}")
                return step + 1
        torch.cuda.synchronize()
        return last, tokens / (time.time() - t0)

    if args.smoke:
        results = {}
        for impl in ("grouped_mm", "eager"):
            try:
                train_steps(0, 3, impl, timed=True)  # warm-up
                _, tps = train_steps(3, 23, impl, timed=True)
                results[impl] = tps
                log(f"experts={impl}: {tps / 1e3:.0f}k tokens/s (batch {args.batch} x {args.seq})")
            except Exception as e:  # noqa: BLE001
                log(f"experts={impl}: failed: {e!r}")
            opt.zero_grad(set_to_none=True)
        log(f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        best = max(results, key=results.get)
        args.experts_impl = best
        # a few logged steps and the whole export/eval path on the short run
        history.clear()
        r = train_steps(23, args.steps, best)
        end_step = r if isinstance(r, int) else r[0]
    else:
        r = train_steps(start_step, args.steps, args.experts_impl)
        end_step = r if isinstance(r, int) else r[0]
    t_train = time.time() - t_start
    log(f"training ended at step {end_step} after {t_train:.0f}s")

    # ---- checkpoint: bf16 Adam moments; the weights are the exported bf16 model.safetensors ------------------
    from safetensors.torch import save_file
    ck = os.path.join(args.out, "ckpt")
    os.makedirs(ck, exist_ok=True)
    names = {id(p): n for n, p in model.named_parameters()}
    m_sd, v_sd = {}, {}
    for p, s in opt.state.items():
        m_sd[names[id(p)]] = s["exp_avg"].to(torch.bfloat16).contiguous().cpu()
        v_sd[names[id(p)]] = s["exp_avg_sq"].to(torch.bfloat16).contiguous().cpu()
    save_file(m_sd, os.path.join(ck, "adam_m.safetensors"))
    save_file(v_sd, os.path.join(ck, "adam_v.safetensors"))
    with open(os.path.join(ck, "train_state.json"), "w") as f:
        json.dump({"step": end_step, "args": vars(args), "history": history, "evals": evals}, f)

    # ---- export and evaluate --------------------------------------------------------------------------------
    folder = os.path.join(args.out, "demo-model")
    sizes = export(model, args, args.tokenizer, folder)
    del opt
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    hf_tok = None
    try:
        from transformers import AutoTokenizer
        hf_tok = AutoTokenizer.from_pretrained(folder)
        log(f"AutoTokenizer: {type(hf_tok).__name__}, eos {hf_tok.eos_token!r} {hf_tok.eos_token_id}")
    except Exception as e:  # noqa: BLE001
        log(f"AutoTokenizer failed: {e!r}")

    # heldout.json: the engine test's input, computed on the CPU in float32 from the exported file
    cpu_model = reload(folder, torch.device("cpu"))
    n_ids = args.heldout_windows * args.heldout_ctx
    ids = data["heldout"]["all"][:n_ids].tolist()
    ppl_small, k_small = windowed_perplexity(cpu_model, ids, args.heldout_ctx, torch.device("cpu"))
    shares_small = routing_shares(cpu_model, ids, args.heldout_ctx, torch.device("cpu"))
    min_small = [min(s) for s in shares_small]
    log(f"heldout.json: {len(ids)} ids, ctx {args.heldout_ctx}: perplexity {ppl_small:.4f} over {k_small} tokens; "
        f"min expert share per layer {[round(x, 4) for x in min_small]}")
    with open(os.path.join(folder, "heldout.json"), "w") as f:
        json.dump({"ids": ids, "ctx": args.heldout_ctx, "transformers_perplexity": ppl_small,
                   "tokens_scored": k_small,
                   "about": "first held-out tokens of tools/demo-model's corpus (tokenized by tokenizer.json); "
                            "perplexity as moe-cli perplexity computes it, by transformers "
                            f"{transformers.__version__} in float32 on the CPU from model.safetensors",
                   "transformers_expert_share": shares_small}, f)
    del cpu_model

    # full held-out perplexity (GPU, float32, no TF32)
    gpu_model = reload(folder, dev)
    full = {}
    for part in ("all", "prose", "chat"):
        p, k = windowed_perplexity(gpu_model, data["heldout"][part].tolist(), 512, dev)
        full[part] = {"perplexity": p, "tokens_scored": k}
        log(f"held-out perplexity ({part}, ctx 512): {p:.3f} over {k} tokens")
    shares_full = routing_shares(gpu_model, data["heldout"]["all"][:64 * 512].tolist(), 512, dev)
    log("held-out routing min share per layer: " + " ".join(f"{min(s):.3f}" for s in shares_full))
    try:
        smp = samples(gpu_model, tok, dev, hf_tok)
    except Exception as e:  # noqa: BLE001
        log(f"samples failed: {e!r}")
        smp = []
    try:
        plot(history, evals, os.path.join(folder, "loss.png"), args.log_every)
    except Exception as e:  # noqa: BLE001
        log(f"plot failed: {e!r}")

    metrics = {"params_total": n_params, "params_experts": n_expert, "params_active_per_token": n_active,
               "vocab": vocab, "config": json.loads(model.config.to_json_string(use_diff=True)), "args": vars(args),
               "end_step": end_step,
               "train_seconds": t_train, "tokens_seen": end_step * args.batch * args.seq,
               "train_tokens": {k: int(v.numel()) for k, v in data["train"].items()},
               "heldout_tokens": {k: int(v.numel()) for k, v in data["heldout"].items()},
               "heldout_json": {"perplexity": ppl_small, "tokens_scored": k_small, "min_share": min_small},
               "heldout_full": full, "routing_shares_heldout": shares_full, "history": history, "evals": evals,
               "samples": smp, "file_sizes": sizes, "versions": {"torch": torch.__version__,
                                                                 "transformers": transformers.__version__}}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log(f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
