#!/usr/bin/env python3
"""Writes the parity fixtures under tests/data/parity/ with Hugging Face transformers itself.

For every case: a tiny random-weight model built by transformers (XForCausalLM(config)), float32, eval mode,
eager attention, eager experts; weights re-initialised so that logits are spread out and routing is decisive;
saved as transformers saves it (save_pretrained: per-expert tensors, sharded when asked) or as the raw
state_dict (fused expert tensors); reloaded from disk (BF16 cases upcast to float32) and the reference computed
from the reloaded model on the CPU in float32:

  ids.json      the prompt token ids (JSON array)
  logits.f32    [n_ids, vocab] float32 little-endian row-major, plain forward over the whole prompt, no cache
  greedy.json   {"prompt": [...], "continuation": [32 ids]}: argmax of the last row, full recompute each step
  routing.json  MoE cases: per MoE layer, per prompt position, the experts chosen and their final weights, as
                the router module returned them (forward hook on mlp.gate)
  meta.json     what the case tests, architecture, storage, layout, versions, seed, margins, tensor names...

Usage (on a machine with torch + transformers; CPU is enough and is what is used):
  PYTHONUNBUFFERED=1 python3 tools/parity/make_fixtures.py --out tests/data/parity [--only case1,case2]
See tools/parity/README.md.
"""

import argparse
import copy
import json
import math
import os
import re
import shutil
import struct
import sys
import time
import traceback

import torch

import transformers
from transformers import (
    DeepseekV2Config,
    DeepseekV2ForCausalLM,
    DeepseekV3Config,
    DeepseekV3ForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    OlmoeConfig,
    OlmoeForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2MoeConfig,
    Qwen2MoeForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

N_IDS = 20
N_GREEDY = 32
MIN_GREEDY_MARGIN = 1e-3  # top-1 minus top-2 logit at every greedy step
# k-th minus (k+1)-th choice score (probability / sigmoid space) at every position: a seed reaching the target is
# taken at once; otherwise the attempt with the largest margin among those above the floor (fp32 rounding is ~1e-7)
TARGET_ROUTER_MARGIN = 1e-3
MIN_ROUTER_MARGIN = 1e-4
MIN_DISTINCT_CONTINUATION = 8  # a greedy continuation stuck on one token tests little
ROUTER_GAIN = 2.5  # router logits std ~ ROUTER_GAIN (input is RMS-normalised)
LM_HEAD_GAIN = 3.0  # untied lm_head: logits std ~ LM_HEAD_GAIN
EMBED_STD_UNTIED = 1.0
EMBED_STD_TIED = 0.5  # tied: logits std ~ 0.5 * sqrt(hidden)
# Tied embeddings: the input token's own embedding dominates the final hidden state and greedy decoding repeats
# one token forever. Larger residual-branch outputs (o_proj, down_proj) fix that.
TIED_BRANCH_GAIN = 2.5
BIAS_STD = 0.2

ROPE = lambda theta: {"rope_type": "default", "rope_theta": float(theta)}  # noqa: E731

# --------------------------------------------------------------------------------------------------------------
# The cases. "cfg" goes to the config class as keyword arguments.
# --------------------------------------------------------------------------------------------------------------
CASES = [
    dict(
        name="llama_gqa",
        cls=LlamaForCausalLM, cfg_cls=LlamaConfig, dtype="F32", layout="dense", v4=True,
        tests="Llama dense: GQA 4 q heads / 2 kv heads, untied lm_head, attention_bias (q/k/v/o biases), "
              "rope_type llama3 (factor 8, low 1, high 4, original_max_position_embeddings 64: with head_dim 12 "
              "one frequency is kept, one smoothed, four divided by 8), odd vocab 131. Also config.v4.json.",
        cfg=dict(vocab_size=131, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=False,
                 attention_bias=True, mlp_bias=False,
                 rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                                  "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 64}),
        seed=1001),
    dict(
        name="llama_tied_bf16",
        cls=LlamaForCausalLM, cfg_cls=LlamaConfig, dtype="BF16", layout="dense",
        tests="Llama dense: tied embeddings (no lm_head.weight in the file), BF16 storage, explicit head_dim 20 "
              "(4 heads x 20 = 80 != hidden 48), rope_type linear factor 2, odd vocab 113.",
        cfg=dict(vocab_size=113, hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, head_dim=20, max_position_embeddings=256, rms_norm_eps=1e-6,
                 tie_word_embeddings=True,
                 rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}),
        seed=1002),
    dict(
        name="mistral_sliding",
        cls=MistralForCausalLM, cfg_cls=MistralConfig, dtype="F32", layout="dense", sliding_check=True,
        tests="Mistral dense: sliding_window 5 on every layer (prompt 20 + 32 greedy, so the window bites: key j "
              "visible from query i iff i-5 < j <= i), GQA 4/2, odd vocab 127.",
        cfg=dict(vocab_size=127, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, sliding_window=5,
                 tie_word_embeddings=False, rope_parameters=ROPE(10000.0)),
        seed=1003),
    dict(
        name="qwen2_dense",
        cls=Qwen2ForCausalLM, cfg_cls=Qwen2Config, dtype="F32", layout="dense", sliding_check=True,
        tests="Qwen2 dense: q/k/v biases (o without), use_sliding_window true, sliding_window 6, max_window_layers 1 "
              "of 3 layers -> layer_types [full, sliding, sliding] (transformers 5: layer i slides iff "
              "i >= max_window_layers), GQA 4/2, odd vocab 151.",
        cfg=dict(vocab_size=151, hidden_size=48, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, use_sliding_window=True,
                 sliding_window=6, max_window_layers=1, tie_word_embeddings=False,
                 rope_parameters=ROPE(10000.0)),
        seed=1004),
    dict(
        name="qwen3_dense",
        cls=Qwen3ForCausalLM, cfg_cls=Qwen3Config, dtype="BF16", layout="dense",
        tests="Qwen3 dense: per-head q/k RMSNorm before RoPE, explicit head_dim 16 (4 x 16 = 64 != hidden 48), "
              "GQA 4/2, tied embeddings, BF16 storage, rope_theta 1e6.",
        cfg=dict(vocab_size=139, hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-6,
                 tie_word_embeddings=True, rope_parameters=ROPE(1000000.0)),
        seed=1005),
    dict(
        name="mixtral_top2",
        cls=MixtralForCausalLM, cfg_cls=MixtralConfig, dtype="F32", layout="per-expert", v4=True,
        tests="Mixtral: 8 experts top-2 (softmax over all, top-2, renormalise), GQA 4/2, per-expert tensors as "
              "save_pretrained writes them, rope_theta 1e6, no sliding window. Also config.v4.json.",
        cfg=dict(vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2, max_position_embeddings=256,
                 rms_norm_eps=1e-5, sliding_window=None, tie_word_embeddings=False,
                 rope_parameters=ROPE(1000000.0)),
        seed=1006),
    dict(
        name="mixtral_fused_bf16",
        cls=MixtralForCausalLM, cfg_cls=MixtralConfig, dtype="BF16", layout="fused", sliding_check=True,
        tests="Mixtral: fused expert tensors straight from model.state_dict() (mlp.experts.gate_up_proj [E, 2I, H] "
              "gate rows then up rows, mlp.experts.down_proj [E, H, I]), BF16 storage, sliding_window 7, "
              "8 experts top-2, intermediate 40.",
        cfg=dict(vocab_size=119, hidden_size=48, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2, max_position_embeddings=256,
                 rms_norm_eps=1e-5, sliding_window=7, tie_word_embeddings=False,
                 rope_parameters=ROPE(1000000.0)),
        seed=1007),
    dict(
        name="mixtral_top1_odd",
        cls=MixtralForCausalLM, cfg_cls=MixtralConfig, dtype="F32", layout="sharded",
        tests="Mixtral: 5 experts top-1 (weight renormalises to exactly 1), odd head count 3 q heads / 1 kv head "
              "(MQA, head_dim 16), odd vocab 101, sharded checkpoint (>= 2 shards + model.safetensors.index.json).",
        cfg=dict(vocab_size=101, hidden_size=48, intermediate_size=48, num_hidden_layers=2, num_attention_heads=3,
                 num_key_value_heads=1, num_local_experts=5, num_experts_per_tok=1, max_position_embeddings=256,
                 rms_norm_eps=1e-5, sliding_window=None, tie_word_embeddings=False,
                 rope_parameters=ROPE(1000000.0)),
        seed=1008),
    dict(
        name="qwen2moe_shared",
        cls=Qwen2MoeForCausalLM, cfg_cls=Qwen2MoeConfig, dtype="F32", layout="per-expert", v4=True,
        tests="Qwen2-MoE: 6 experts top-2, norm_topk_prob false (weights are raw softmax probabilities), shared "
              "expert (intermediate 48) gated by sigmoid(shared_expert_gate(x)), decoder_sparse_step 1 with "
              "mlp_only_layers [1] (layer 1 is a dense MLP of intermediate 64), q/k/v biases. Also config.v4.json.",
        cfg=dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                 num_key_value_heads=2, moe_intermediate_size=32, shared_expert_intermediate_size=48,
                 num_experts=6, num_experts_per_tok=2, norm_topk_prob=False, decoder_sparse_step=1,
                 mlp_only_layers=[1], qkv_bias=True, use_sliding_window=False, max_position_embeddings=256,
                 rms_norm_eps=1e-6, tie_word_embeddings=False, rope_parameters=ROPE(1000000.0)),
        seed=1009),
    dict(
        name="qwen3moe",
        cls=Qwen3MoeForCausalLM, cfg_cls=Qwen3MoeConfig, dtype="F32", layout="per-expert",
        tests="Qwen3-MoE: 7 experts (odd) top-3, norm_topk_prob true, mlp_only_layers [0] (layer 0 dense, "
              "intermediate 64), per-head q/k RMSNorm (head_dim 8), GQA 4/2.",
        cfg=dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                 num_key_value_heads=2, moe_intermediate_size=32, num_experts=7, num_experts_per_tok=3,
                 norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[0], max_position_embeddings=256,
                 rms_norm_eps=1e-6, tie_word_embeddings=False, rope_parameters=ROPE(1000000.0)),
        seed=1010),
    dict(
        name="qwen3moe_fused_bf16",
        cls=Qwen3MoeForCausalLM, cfg_cls=Qwen3MoeConfig, dtype="BF16", layout="fused",
        tests="Qwen3-MoE: fused expert tensors from model.state_dict(), BF16 storage, 8 experts top-2, "
              "norm_topk_prob false.",
        cfg=dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, moe_intermediate_size=32, num_experts=8, num_experts_per_tok=2,
                 norm_topk_prob=False, decoder_sparse_step=1, mlp_only_layers=[], max_position_embeddings=256,
                 rms_norm_eps=1e-6, tie_word_embeddings=False, rope_parameters=ROPE(1000000.0)),
        seed=1011),
    dict(
        name="olmoe",
        cls=OlmoeForCausalLM, cfg_cls=OlmoeConfig, dtype="F32", layout="per-expert",
        tests="OLMoE: 6 experts top-2, norm_topk_prob false, q_norm over the whole q projection (hidden) and "
              "k_norm over the whole k projection, then clip_qkv 1.5 clamps q, k and v (meta.clip_fraction says how "
              "many elements were clipped).",
        cfg=dict(vocab_size=128, hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, num_experts=6, num_experts_per_tok=2, norm_topk_prob=False, clip_qkv=1.5,
                 max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=False,
                 pad_token_id=None, bos_token_id=1, eos_token_id=2, rope_parameters=ROPE(10000.0)),
        seed=1012),
    dict(
        name="deepseek_v2_lite",
        cls=DeepseekV2ForCausalLM, cfg_cls=DeepseekV2Config, dtype="F32", layout="per-expert",
        tests="DeepSeek-V2 (Lite shape): MLA without q LoRA (q_proj), kv_lora_rank 16, qk_nope 8, qk_rope 8 "
              "(interleaved RoPE on the rope part), v_head_dim 12, 4 heads; first_k_dense_replace 1 of 3 layers; "
              "6 routed experts top-2 'greedy' (softmax, no renormalisation), routed_scaling_factor 1.5, 1 shared "
              "expert; no rope scaling.",
        cfg=dict(vocab_size=128, hidden_size=48, intermediate_size=64, moe_intermediate_size=32, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=4, q_lora_rank=None, kv_lora_rank=16,
                 qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=12, first_k_dense_replace=1,
                 n_routed_experts=6, num_experts_per_tok=2, n_shared_experts=1, topk_method="greedy",
                 routed_scaling_factor=1.5, n_group=None, topk_group=None, max_position_embeddings=256,
                 rms_norm_eps=1e-6, tie_word_embeddings=False, rope_parameters=ROPE(10000.0)),
        seed=1013),
    dict(
        name="deepseek_v2_group",
        cls=DeepseekV2ForCausalLM, cfg_cls=DeepseekV2Config, dtype="BF16", layout="per-expert",
        tests="DeepSeek-V2: MLA with q LoRA (q_a_proj 24 -> q_a_layernorm -> q_b_proj), 6 experts top-2 "
              "'group_limited_greedy' with n_group 3, topk_group 2 (group score = max prob in group, other groups' "
              "scores set to 0), routed_scaling_factor 1.5, 1 shared expert, first_k_dense_replace 1, BF16 storage.",
        cfg=dict(vocab_size=128, hidden_size=48, intermediate_size=64, moe_intermediate_size=32, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=4, q_lora_rank=24, kv_lora_rank=16,
                 qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=12, first_k_dense_replace=1,
                 n_routed_experts=6, num_experts_per_tok=2, n_shared_experts=1,
                 topk_method="group_limited_greedy", n_group=3, topk_group=2, routed_scaling_factor=1.5,
                 max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=False,
                 rope_parameters=ROPE(10000.0)),
        seed=1014),
    dict(
        name="deepseek_v3",
        cls=DeepseekV3ForCausalLM, cfg_cls=DeepseekV3Config, dtype="F32", layout="per-expert",
        tests="DeepSeek-V3: MLA with q LoRA 24, kv_lora 16; sigmoid router with non-zero e_score_correction_bias "
              "(some negative) used for the choice only, 8 experts in n_group 4 (group score = sum of top-2 corrected "
              "scores), topk_group 2, top-3, norm_topk_prob true, routed_scaling_factor 2.5, 1 shared expert, "
              "first_k_dense_replace 1, rope_interleave as transformers defaults it (true).",
        cfg=dict(vocab_size=128, hidden_size=48, intermediate_size=64, moe_intermediate_size=32, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=4, q_lora_rank=24, kv_lora_rank=16,
                 qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=12, n_routed_experts=8, n_group=4,
                 topk_group=2, num_experts_per_tok=3, norm_topk_prob=True, routed_scaling_factor=2.5,
                 n_shared_experts=1, first_k_dense_replace=1, max_position_embeddings=256, rms_norm_eps=1e-6,
                 tie_word_embeddings=False, rope_parameters=ROPE(10000.0)),
        seed=1015),
]

MOE_TYPES = {"mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v2", "deepseek_v3"}


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------------------------------------------
# Model construction
# --------------------------------------------------------------------------------------------------------------
def set_eager(model, is_moe, notes):
    try:
        model.set_attn_implementation("eager")
    except Exception as e:  # noqa: BLE001
        notes.append(f"set_attn_implementation failed: {e!r}; setting config._attn_implementation")
        model.config._attn_implementation = "eager"
    if is_moe:
        try:
            model.set_experts_implementation("eager")
        except Exception as e:  # noqa: BLE001
            notes.append(f"set_experts_implementation failed: {e!r}")
    model.eval()


@torch.no_grad()
def reinit(model, cfg, seed):
    """Weights that make a discriminating fixture (see README)."""
    g = torch.Generator().manual_seed(seed)
    H = cfg.hidden_size
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    norm_ids = {id(m.weight) for m in model.modules() if type(m).__name__.endswith("RMSNorm")}
    router_ids = {id(m.weight) for m in model.modules() if "Router" in type(m).__name__}
    for name, p in model.named_parameters():  # tied lm_head.weight is the same Parameter: listed once
        if id(p) in norm_ids:
            p.uniform_(0.5, 1.5, generator=g)
        elif name.endswith("embed_tokens.weight"):
            p.normal_(0.0, EMBED_STD_TIED if tied else EMBED_STD_UNTIED, generator=g)
        elif name == "lm_head.weight":
            p.normal_(0.0, LM_HEAD_GAIN / math.sqrt(H), generator=g)
        elif id(p) in router_ids:
            p.normal_(0.0, ROUTER_GAIN / math.sqrt(H), generator=g)
        elif p.dim() >= 2:  # Linear [out, in] and fused experts [E, out, in]: std 1/sqrt(fan_in)
            gain = TIED_BRANCH_GAIN if tied and name.endswith(("o_proj.weight", "down_proj.weight",
                                                               "experts.down_proj")) else 1.0
            p.normal_(0.0, gain / math.sqrt(p.shape[-1]), generator=g)
        elif p.dim() == 1:  # Linear biases
            p.normal_(0.0, BIAS_STD, generator=g)
        else:
            raise RuntimeError(f"unexpected parameter {name} {tuple(p.shape)}")
    for name, b in model.named_buffers():
        if name.endswith("e_score_correction_bias"):
            # large enough to change choices (meta.router_extras.bias_changed_choice counts them), small enough
            # that corrected scores in the kept groups stay mostly positive (see fill_conflicts_inf_vs_zero)
            b.uniform_(-0.1, 0.25, generator=g)
            neg = torch.randperm(b.numel(), generator=g)[:3]
            b[neg] = -torch.empty(3).uniform_(0.02, 0.12, generator=g)  # at least 3 negative per layer
    if tied:
        emb = model.get_input_embeddings().weight
        out = model.get_output_embeddings().weight
        if emb.data_ptr() != out.data_ptr():
            raise RuntimeError("tie_word_embeddings is set but lm_head does not share embed_tokens")


@torch.no_grad()
def round_to_bf16_(model):
    for t in model.state_dict().values():
        if t.is_floating_point():
            t.copy_(t.to(torch.bfloat16).to(torch.float32))


def build(case, seed, notes):
    torch.manual_seed(seed)
    cfg = case["cfg_cls"](**case["cfg"])
    model = case["cls"](cfg)
    model.to(torch.float32)
    is_moe = cfg.model_type in MOE_TYPES
    set_eager(model, is_moe, notes)
    reinit(model, cfg, seed)
    if case["dtype"] == "BF16":
        round_to_bf16_(model)  # so that the seed choice below sees what the stored bf16 weights compute
    return model


def draw_ids(seed, vocab):
    g = torch.Generator().manual_seed(seed + 7)
    return torch.randint(0, vocab, (N_IDS,), generator=g).tolist()


# --------------------------------------------------------------------------------------------------------------
# Router capture and re-derivation
# --------------------------------------------------------------------------------------------------------------
class RouterCapture:
    """Forward hooks on every router module (mlp.gate): it returns (router_logits, weights, indices) in every
    family of transformers 5.17 (MixtralTopKRouter, Qwen2MoeTopKRouter, Qwen3MoeTopKRouter, OlmoeTopKRouter,
    DeepseekV2TopkRouter, DeepseekV3TopkRouter)."""

    def __init__(self, model):
        self.routers = {}
        for name, m in model.named_modules():
            if "Router" in type(m).__name__:
                layer = int(re.search(r"layers\.(\d+)\.", name).group(1))
                self.routers[layer] = (name, m)
        self.records = {}
        self.handles = []

    def __enter__(self):
        self.records = {}
        for layer, (_, m) in self.routers.items():
            self.handles.append(m.register_forward_hook(self._hook(layer)))
        return self

    def _hook(self, layer):
        def hook(mod, inp, out):
            self.records[layer] = dict(logits=out[0].detach().float().clone(),
                                       weights=out[1].detach().float().clone(),
                                       indices=out[2].detach().clone())
        return hook

    def __exit__(self, *a):
        for h in self.handles:
            h.remove()
        self.handles = []


def derive_routing(cfg, router, logits):
    """Our own reading of the family's router (DESIGN §7 as transformers 5.17 implements it). Returns
    (indices as sets, weights per expert dict, min choice margin, extra). Used to check the hook capture and to
    measure how decisive the routing is."""
    mt = cfg.model_type
    k = router.top_k
    E = router.num_experts
    extra = {}
    if mt in ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe") or (mt == "deepseek_v2" and cfg.topk_method == "greedy"):
        p = torch.softmax(logits.float(), dim=-1)
        s = p.sort(dim=-1, descending=True).values
        margin = (s[:, k - 1] - s[:, k]).min().item() if k < E else float("inf")
        w, idx = torch.topk(p, k, dim=-1)
        if mt == "mixtral" or (mt in ("qwen2_moe", "qwen3_moe", "olmoe") and cfg.norm_topk_prob):
            w = w / w.sum(-1, keepdim=True)
        if mt == "deepseek_v2":
            w = w * cfg.routed_scaling_factor
        return idx, w, margin, extra
    if mt == "deepseek_v2":  # group_limited_greedy
        G, tg = cfg.n_group, cfg.topk_group
        p = torch.softmax(logits.float(), dim=-1)
        gs = p.view(-1, G, E // G).max(dim=-1).values
        gsort = gs.sort(dim=-1, descending=True).values
        gmargin = (gsort[:, tg - 1] - gsort[:, tg]).min().item()
        gidx = torch.topk(gs, tg, dim=-1).indices
        gmask = torch.zeros_like(gs).scatter_(1, gidx, 1.0)
        allowed = gmask.unsqueeze(-1).expand(-1, G, E // G).reshape(-1, E).bool()
        pm = p.masked_fill(~allowed, 0.0)
        s = pm.sort(dim=-1, descending=True).values
        emargin = (s[:, k - 1] - s[:, k]).min().item()
        w, idx = torch.topk(pm, k, dim=-1)
        extra.update(group_margin=gmargin, expert_margin=emargin)
        return idx, w * cfg.routed_scaling_factor, min(gmargin, emargin), extra
    if mt == "deepseek_v3":
        G, tg = cfg.n_group, cfg.topk_group
        scores = torch.sigmoid(logits.float())
        sfc = scores + router.e_score_correction_bias.float()
        gs = sfc.view(-1, G, E // G).topk(2, dim=-1).values.sum(-1)
        gsort = gs.sort(dim=-1, descending=True).values
        gmargin = (gsort[:, tg - 1] - gsort[:, tg]).min().item()
        gidx = torch.topk(gs, tg, dim=-1).indices
        gmask = torch.zeros_like(gs).scatter_(1, gidx, 1.0)
        allowed = gmask.unsqueeze(-1).expand(-1, G, E // G).reshape(-1, E).bool()
        m_inf = sfc.masked_fill(~allowed, float("-inf"))  # what transformers 5.17 does
        m_zero = sfc.masked_fill(~allowed, 0.0)  # what DeepSeek's reference code does (DESIGN §7)
        s = m_inf.sort(dim=-1, descending=True).values
        emargin = (s[:, k - 1] - s[:, k]).min().item()
        idx = torch.topk(m_inf, k, dim=-1).indices
        idx0 = torch.topk(m_zero, k, dim=-1).indices
        conflicts = int(sum(set(a) != set(b) for a, b in zip(idx.tolist(), idx0.tolist())))
        # the same selection without the correction bias: how often the bias changes the choice
        gs_nb = scores.view(-1, G, E // G).topk(2, dim=-1).values.sum(-1)
        gidx_nb = torch.topk(gs_nb, tg, dim=-1).indices
        allowed_nb = (torch.zeros_like(gs_nb).scatter_(1, gidx_nb, 1.0).unsqueeze(-1)
                      .expand(-1, G, E // G).reshape(-1, E).bool())
        idx_nb = torch.topk(scores.masked_fill(~allowed_nb, float("-inf")), k, dim=-1).indices
        bias_changed = int(sum(set(a) != set(b) for a, b in zip(idx.tolist(), idx_nb.tolist())))
        w = scores.gather(1, idx)
        if cfg.norm_topk_prob:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        w = w * cfg.routed_scaling_factor
        extra.update(group_margin=gmargin, expert_margin=emargin, fill_conflicts_inf_vs_zero=conflicts,
                     bias_changed_choice=bias_changed,
                     negative_corrected_scores_in_kept_groups=int(((sfc < 0) & allowed).sum().item()))
        return idx, w, min(gmargin, emargin), extra
    raise RuntimeError(f"no router derivation for {mt}")


# --------------------------------------------------------------------------------------------------------------
# Evaluation: everything that goes into the fixture, computed from one model
# --------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, ids):
    cfg = model.config
    cap = RouterCapture(model)
    clip = {}
    handles = []
    if cfg.model_type == "olmoe" and cfg.clip_qkv is not None:
        c = float(cfg.clip_qkv)
        for name, m in model.named_modules():
            for part in ("q_norm", "k_norm", "v_proj"):
                if name.endswith("self_attn." + part):
                    def h(mod, inp, out, part=part):
                        t = clip.setdefault(part, [0, 0])
                        t[0] += int((out.abs() > c).sum().item())  # measured before the in-place clamp_
                        t[1] += out.numel()
                    handles.append(m.register_forward_hook(h))
    x = torch.tensor([ids], dtype=torch.long)
    with cap:
        logits = model(input_ids=x, use_cache=False).logits[0].float().clone()
    for hd in handles:
        hd.remove()
    prompt_routing = cap.records

    seq = list(ids)
    margins = []
    for _ in range(N_GREEDY):
        last = model(input_ids=torch.tensor([seq], dtype=torch.long), use_cache=False).logits[0, -1].float()
        top2 = torch.topk(last, 2).values
        margins.append(float(top2[0] - top2[1]))
        seq.append(int(torch.argmax(last).item()))
    cont = seq[len(ids):]

    # routing decisiveness over every position that influenced an output (prompt + continuation minus the last)
    out = dict(logits=logits, continuation=cont, margins=margins, routing=prompt_routing)
    router_margin = float("inf")
    coverage_ok = True
    extras = {}
    derive_check = 0.0
    if cap.routers:
        with cap:
            model(input_ids=torch.tensor([seq[:-1]], dtype=torch.long), use_cache=False)
        for layer, (name, router) in sorted(cap.routers.items()):
            rec = cap.records[layer]
            idx, w, m, extra = derive_routing(cfg, router, rec["logits"])
            router_margin = min(router_margin, m)
            for key, v in extra.items():
                if key.endswith(("conflicts", "zero", "choice")) or key.startswith("negative"):
                    extras[key] = extras.get(key, 0) + v
                else:
                    extras[key] = min(extras.get(key, float("inf")), v)
            # the derivation must agree with what the module returned (as sets, weights per expert)
            for pos in range(idx.shape[0]):
                a = dict(zip(idx[pos].tolist(), w[pos].tolist()))
                b = dict(zip(rec["indices"][pos].tolist(), rec["weights"][pos].tolist()))
                if set(a) != set(b):
                    derive_check = float("inf")
                else:
                    derive_check = max(derive_check, max(abs(a[e] - b[e]) for e in a))
            pr = prompt_routing[layer]["indices"]
            used = set(pr.flatten().tolist())
            if used != set(range(router.num_experts)):
                coverage_ok = False
        out["unused_experts"] = {
            layer: sorted(set(range(r.num_experts)) - set(prompt_routing[layer]["indices"].flatten().tolist()))
            for layer, (_, r) in cap.routers.items()}
    out.update(router_margin=router_margin, coverage_ok=coverage_ok, router_extras=extras,
               derive_check=derive_check,
               clip_fraction={k: v[0] / max(v[1], 1) for k, v in clip.items()} if clip else None)
    std = logits.std(dim=-1)
    out.update(max_abs_logit=float(logits.abs().max()), min_row_std=float(std.min()), mean_row_std=float(std.mean()))
    return out


def score(ev):
    """(meets everything incl. the router-margin target, sort key: hard criteria, then router margin, then greedy
    margin)."""
    ok_cov = ev["coverage_ok"]
    ok_conf = ev["router_extras"].get("fill_conflicts_inf_vs_zero", 0) == 0
    ok_g = min(ev["margins"]) >= MIN_GREEDY_MARGIN
    ok_r = ev["router_margin"] >= MIN_ROUTER_MARGIN
    ok_std = ev["min_row_std"] >= 1.0
    ok_div = len(set(ev["continuation"])) >= MIN_DISTINCT_CONTINUATION
    hard = ok_cov and ok_conf and ok_g and ok_r and ok_std and ok_div
    passed = hard and ev["router_margin"] >= TARGET_ROUTER_MARGIN
    return passed, (hard, ok_cov, ok_conf, ok_g, ok_r, ok_std, ok_div, min(ev["router_margin"], 1.0),
                    min(min(ev["margins"]), 1.0))


# --------------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------------
def st_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h


def tensor_table(d):
    table = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            for name, info in st_header(os.path.join(d, fn)).items():
                table[name] = {"dtype": info["dtype"], "shape": info["shape"], "file": fn}
    return table


def name_patterns(names):
    pats = set()
    for n in names:
        p = re.sub(r"layers\.\d+\.", "layers.{L}.", n)
        p = re.sub(r"experts\.\d+\.", "experts.{E}.", p)
        pats.add(p)
    return sorted(pats)


def v4_dialect(cfg5, model_type):
    """Hand-written transformers-4 dialect of a transformers-5 config.json (what hub checkpoints carry):
    rope_parameters {rope_theta, rope_type, scaling fields...} -> top-level rope_theta + rope_scaling
    {rope_type, scaling fields} (or no rope_scaling / null for plain rope); layer_types dropped (v4 derived
    sliding from sliding_window / use_sliding_window / max_window_layers); dtype -> torch_dtype;
    transformers_version set to a 4.x release."""
    d = {}
    rp = cfg5.get("rope_parameters") or {}
    for key, v in cfg5.items():
        if key in ("rope_parameters", "layer_types"):
            continue
        if key == "dtype":
            d["torch_dtype"] = v
            continue
        d[key] = v
    d["rope_theta"] = rp.get("rope_theta", 10000.0)
    scaling = {k: v for k, v in rp.items() if k != "rope_theta"}
    if scaling.get("rope_type", "default") != "default":
        d["rope_scaling"] = scaling
    elif model_type == "qwen2_moe":
        d["rope_scaling"] = None  # Qwen configs on the hub often say null; exercise that
    d["transformers_version"] = "4.46.3"
    return d


def reload(case, d, notes):
    is_moe = case["cfg_cls"].model_type in MOE_TYPES
    kw = dict(dtype=torch.float32, attn_implementation="eager")
    if is_moe:
        kw["experts_implementation"] = "eager"
    info = None
    try:
        model, info = case["cls"].from_pretrained(d, output_loading_info=True, **kw)
    except Exception as e:  # noqa: BLE001
        notes.append(f"from_pretrained kwargs refused ({e!r}); retried with dtype only")
        model = case["cls"].from_pretrained(d, dtype=torch.float32)
    model.to(torch.float32)
    set_eager(model, is_moe, notes)
    li = {}
    if info:
        for k2 in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
            v = info.get(k2)
            li[k2] = sorted(str(x) for x in v) if v else []
    return model, li


def save(case, model, d, notes):
    os.makedirs(d, exist_ok=True)
    tdt = torch.bfloat16 if case["dtype"] == "BF16" else torch.float32
    layout = case["layout"]
    if layout == "fused":
        from safetensors.torch import save_file
        sd = model.state_dict()
        if model.config.tie_word_embeddings:
            sd.pop("lm_head.weight", None)
        tensors = {k: v.detach().to(tdt).contiguous().clone() for k, v in sd.items()}
        save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        model.config.architectures = [type(model).__name__]
        try:
            model.config.dtype = tdt
        except Exception:  # noqa: BLE001
            model.config.dtype = "bfloat16" if tdt == torch.bfloat16 else "float32"
        model.config.save_pretrained(d)
        return "fused (model.state_dict() + safetensors.torch.save_file, config via config.save_pretrained)"
    if tdt != torch.float32:
        model.to(tdt)
    if layout == "sharded":
        for size in ("150KB", "60KB", "20KB"):
            for fn in os.listdir(d):
                os.remove(os.path.join(d, fn))
            model.save_pretrained(d, max_shard_size=size)
            shards = [f for f in os.listdir(d) if f.endswith(".safetensors")]
            if len(shards) >= 2 and os.path.exists(os.path.join(d, "model.safetensors.index.json")):
                return f"sharded per-expert (save_pretrained max_shard_size={size}: {len(shards)} shards + index)"
        notes.append("could not get >= 2 shards")
        return "sharded? (only one shard written)"
    model.save_pretrained(d)
    return ("save_pretrained (per-expert names as transformers writes them)" if layout == "per-expert"
            else "save_pretrained (dense model)")


@torch.no_grad()
def sliding_effect(case, model, ids):
    """max |logits(with the window) - logits(same weights, no window)| over the prompt: shows the window bites."""
    d = model.config.to_dict()
    if case["cfg_cls"].model_type == "qwen2":
        d["use_sliding_window"] = False
        d["layer_types"] = None
    else:
        d["sliding_window"] = None
    cfg2 = case["cfg_cls"].from_dict(d)
    m2 = case["cls"](cfg2)
    m2.load_state_dict(model.state_dict())
    set_eager(m2, cfg2.model_type in MOE_TYPES, [])
    x = torch.tensor([ids])
    a = model(input_ids=x, use_cache=False).logits[0]
    b = m2(input_ids=x, use_cache=False).logits[0]
    return float((a - b).abs().max())


# --------------------------------------------------------------------------------------------------------------
def run_case(case, out_root, max_attempts):
    t0 = time.time()
    name = case["name"]
    notes = []
    best = None
    attempts = []
    for a in range(max_attempts):
        seed = case["seed"] + 1009 * a
        model = build(case, seed, notes)
        ids = draw_ids(seed, model.config.vocab_size)
        ev = evaluate(model, ids)
        passed, key = score(ev)
        attempts.append(dict(seed=seed, passed=passed, hard_criteria_met=key[0], min_greedy_margin=min(ev["margins"]),
                             router_margin=ev["router_margin"], coverage_ok=ev["coverage_ok"],
                             min_row_std=ev["min_row_std"], distinct=len(set(ev["continuation"])),
                             extras=ev["router_extras"]))
        if best is None or key > best[0]:
            best = (key, seed, model, ids, ev)
        if passed:
            break
    _, seed, model, ids, ev_mem = best
    if not score(ev_mem)[1][0]:
        notes.append(f"no attempt met the hard criteria in {max_attempts}; kept the best (seed {seed})")
    elif not score(ev_mem)[0]:
        notes.append(f"no attempt reached router margin {TARGET_ROUTER_MARGIN} in {max_attempts}; kept the largest "
                     f"(seed {seed})")

    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    sliding = sliding_effect(case, model, ids) if case.get("sliding_check") else None
    n_params = sum(p.numel() for p in model.parameters())
    mem_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    layout_desc = save(case, model, d, notes)

    ref, load_info = reload(case, d, notes)
    # the reloaded weights must be exactly the in-memory (bf16-rounded for BF16 cases) weights
    ref_sd = ref.state_dict()
    weight_diff = 0.0
    for k, v in mem_sd.items():
        if k in ref_sd:
            weight_diff = max(weight_diff, float((ref_sd[k].float() - v.float()).abs().max()))
        else:
            notes.append(f"reloaded model lacks {k}")
    ev = evaluate(ref, ids)
    reload_logit_diff = float((ev["logits"] - ev_mem["logits"]).abs().max())
    if ev["continuation"] != ev_mem["continuation"]:
        notes.append("greedy continuation of the reloaded model differs from the in-memory one")

    # ---- files
    with open(os.path.join(d, "ids.json"), "w") as f:
        json.dump(ids, f)
    ev["logits"].contiguous().numpy().astype("<f4").tofile(os.path.join(d, "logits.f32"))
    with open(os.path.join(d, "greedy.json"), "w") as f:
        json.dump({"prompt": ids, "continuation": ev["continuation"]}, f)
    cfg = ref.config
    mt = cfg.model_type
    routing_order = None
    if ev["routing"]:
        sorted_flag = not (mt in ("deepseek_v2", "deepseek_v3"))
        routing_order = ("torch.topk sorted=True: descending router probability" if sorted_flag else
                         "torch.topk sorted=False as transformers calls it: order unspecified, compare as "
                         "sets of (expert, weight)")
        layers = []
        for layer in sorted(ev["routing"]):
            r = ev["routing"][layer]
            layers.append({"layer": layer,
                           "experts": r["indices"].tolist(),
                           "weights": [[float(x) for x in row] for row in r["weights"].tolist()]})
        with open(os.path.join(d, "routing.json"), "w") as f:
            json.dump({"order": routing_order, "layers": layers}, f)

    with open(os.path.join(d, "config.json")) as f:
        cfg5 = json.load(f)
    v4info = None
    if case.get("v4"):
        d4 = v4_dialect(cfg5, mt)
        with open(os.path.join(d, "config.v4.json"), "w") as f:
            json.dump(d4, f, indent=2, sort_keys=True)
            f.write("\n")
        try:
            c4 = case["cfg_cls"].from_dict({k: v for k, v in d4.items()})
            same_rope = dict(c4.rope_parameters) == dict(cfg.rope_parameters)
            same_lt = getattr(c4, "layer_types", None) == getattr(cfg, "layer_types", None)
            m4 = case["cls"].from_pretrained(d, config=c4, dtype=torch.float32)
            set_eager(m4, mt in MOE_TYPES, notes)
            with torch.no_grad():
                l4 = m4(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
            v4info = dict(rope_parameters_equal=same_rope, layer_types_equal=same_lt,
                          v4_rope_parameters=dict(c4.rope_parameters),
                          logits_max_abs_diff=float((l4 - ev["logits"]).abs().max()))
        except Exception as e:  # noqa: BLE001
            v4info = dict(error=repr(e))

    tensors = tensor_table(d)
    moe_layers = sorted(ev["routing"]) if ev["routing"] else []
    show_layer = moe_layers[0] if moe_layers else 0
    layer_names = sorted(n for n in tensors if f"layers.{show_layer}." in n)
    moe_names = [n for n in tensors
                 if re.search(r"layers\.(\d+)\.", n) and int(re.search(r"layers\.(\d+)\.", n).group(1)) in moe_layers
                 and "self_attn" not in n and "layernorm" not in n]
    expert_pats = name_patterns(moe_names)
    files = sorted(os.listdir(d))
    nbytes = sum(os.path.getsize(os.path.join(d, fn)) for fn in files)
    rec = ev["router_extras"]
    meta = {
        "case": name,
        "tests": case["tests"],
        "architecture": type(ref).__name__,
        "model_type": mt,
        "storage_dtype": case["dtype"],
        "layout": case["layout"],
        "layout_detail": layout_desc,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "device": "cpu, float32 (torch.float32 matmuls, no TF32)",
        "attn_implementation": getattr(ref.config, "_attn_implementation", None),
        "experts_implementation": getattr(ref.config, "_experts_implementation", None),
        "seed": seed,
        "attempts": attempts,
        "n_ids": len(ids),
        "vocab_size": cfg.vocab_size,
        "n_greedy": N_GREEDY,
        "params": n_params,
        "tied_embeddings": bool(getattr(cfg, "tie_word_embeddings", False)),
        "lm_head_in_file": "lm_head.weight" in tensors,
        "max_abs_logit": ev["max_abs_logit"],
        "logit_row_std_min": ev["min_row_std"],
        "logit_row_std_mean": ev["mean_row_std"],
        "min_greedy_margin": min(ev["margins"]),
        "distinct_continuation_tokens": len(set(ev["continuation"])),
        "greedy_step_margins": ev["margins"],
        "moe_layers": moe_layers,
        "routing_order": routing_order,
        "min_router_margin": ev["router_margin"] if moe_layers else None,
        "router_margin_note": "min over layers and over the prompt+continuation positions of the gap between the "
                              "k-th and (k+1)-th choice score (softmax probability, or sigmoid+bias for V3; group "
                              "scores too for group-limited routers)",
        "router_extras": rec,
        "router_hook_vs_derivation_max_abs_diff": ev["derive_check"] if moe_layers else None,
        "unused_experts_in_prompt": ev.get("unused_experts"),
        "clip_fraction": ev["clip_fraction"],
        "sliding_window_effect_max_abs_logit_diff": sliding,
        "layer_types": getattr(cfg, "layer_types", None),
        "sliding_window_per_layer": [getattr(l.self_attn, "sliding_window", None) for l in ref.model.layers]
        if mt in ("qwen2",) else None,
        "rope_parameters": dict(cfg.rope_parameters) if getattr(cfg, "rope_parameters", None) else None,
        "rope_interleave": getattr(cfg, "rope_interleave", None),
        "reload_weight_max_abs_diff": weight_diff,
        "reload_logits_max_abs_diff_vs_in_memory": reload_logit_diff,
        "loading_info": load_info,
        "config_v4": v4info,
        "files": files,
        "bytes": nbytes,
        "expert_tensor_patterns": expert_pats,
        "tensor_names_layer": {"layer": show_layer, "names": layer_names},
        "tensors": tensors,
        "notes": notes,
    }
    meta["notes"] = list(dict.fromkeys(notes))
    meta["config_dtype"] = cfg5.get("dtype", cfg5.get("torch_dtype"))
    meta = finite(meta)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, allow_nan=False)
        f.write("\n")
    meta["_secs"] = time.time() - t0
    return meta


def finite(o):
    """JSON without Infinity/NaN (strict parsers such as nlohmann::json reject them)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {(str(k) if not isinstance(k, str) else k): finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    return o


def fmt(x, p=4):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{p}g}"
    return str(x)


def write_summary(out_root, metas, failures):
    lines = ["# Parity fixtures", "",
             f"Written by tools/parity/make_fixtures.py with transformers {transformers.__version__}, torch "
             f"{torch.__version__}, on the CPU in float32. See tools/parity/README.md for what each case tests and "
             "each file holds.", "",
             "| case | arch | dtype | layout | params | bytes | max\\|logit\\| | min greedy margin | "
             "min router margin | expert tensor names |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    total = 0
    for m in metas:
        total += m["bytes"]
        pats = [p.replace("model.layers.{L}.", "") for p in m["expert_tensor_patterns"]]
        lines.append(f"| {m['case']} | {m['architecture']} | {m['storage_dtype']} | {m['layout']} | {m['params']} | "
                     f"{m['bytes']} | {m['max_abs_logit']:.3f} | {m['min_greedy_margin']:.4g} | "
                     f"{fmt(m['min_router_margin'])} | {'<br>'.join(pats) if pats else '(dense)'} |")
    lines += ["", f"Total: {total} bytes in {len(metas)} cases.", ""]
    for m in metas:
        extra = []
        if m["router_extras"]:
            extra.append("router: " + json.dumps(m["router_extras"]))
        if m["clip_fraction"]:
            extra.append("clip fraction: " + json.dumps({k: round(v, 3) for k, v in m["clip_fraction"].items()}))
        if m["sliding_window_effect_max_abs_logit_diff"] is not None:
            extra.append(f"sliding window changes prompt logits by up to "
                         f"{m['sliding_window_effect_max_abs_logit_diff']:.3f}")
        if m["config_v4"]:
            extra.append("config.v4.json: " + json.dumps(m["config_v4"]))
        if m["notes"]:
            extra.append("notes: " + "; ".join(m["notes"]))
        lines.append(f"- **{m['case']}** (seed {m['seed']}, {m['layout_detail']}): {m['tests']}")
        for e in extra:
            lines.append(f"  - {e}")
    if failures:
        lines += ["", "## Failed cases", ""]
        for n, e in failures:
            lines.append(f"- {n}: {e}")
    with open(os.path.join(out_root, "SUMMARY.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--max-attempts", type=int, default=24)
    args = ap.parse_args()
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    os.makedirs(args.out, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    log(f"transformers {transformers.__version__} torch {torch.__version__} python {sys.version.split()[0]}")
    metas, failures = [], []
    for case in CASES:
        if only and case["name"] not in only:
            continue
        try:
            m = run_case(case, args.out, args.max_attempts)
            metas.append(m)
            log(f"\n== {m['case']} [{m['architecture']} {m['storage_dtype']} {m['layout']}] seed {m['seed']} "
                f"attempts {len(m['attempts'])} params {m['params']} bytes {m['bytes']} ({m['_secs']:.1f}s)")
            log(f"   max|logit| {m['max_abs_logit']:.3f} row std min {m['logit_row_std_min']:.3f} "
                f"min greedy margin {m['min_greedy_margin']:.4g} distinct {m['distinct_continuation_tokens']} min router margin {fmt(m['min_router_margin'])} "
                f"hook-vs-derived {fmt(m['router_hook_vs_derivation_max_abs_diff'])}")
            log(f"   reload: weights diff {m['reload_weight_max_abs_diff']:.3g} logits diff "
                f"{m['reload_logits_max_abs_diff_vs_in_memory']:.3g} loading_info {json.dumps(m['loading_info'])}")
            log(f"   attn {m['attn_implementation']} experts {m['experts_implementation']} files {m['files']}")
            if m["router_extras"]:
                log(f"   router extras {json.dumps(m['router_extras'])} unused {m['unused_experts_in_prompt']}")
            if m["clip_fraction"]:
                log(f"   clip fraction {m['clip_fraction']}")
            if m["sliding_window_effect_max_abs_logit_diff"] is not None:
                log(f"   sliding effect {m['sliding_window_effect_max_abs_logit_diff']:.4g} layer_types "
                    f"{m['layer_types']} per-layer window {m['sliding_window_per_layer']}")
            if m["config_v4"]:
                log(f"   config.v4 {json.dumps(m['config_v4'])}")
            if m["rope_interleave"] is not None:
                log(f"   rope_interleave {m['rope_interleave']}")
            log(f"   expert patterns {m['expert_tensor_patterns']}")
            log(f"   layer {m['tensor_names_layer']['layer']} tensors: "
                + ", ".join(f"{n} {m['tensors'][n]['dtype']}{m['tensors'][n]['shape']}"
                            for n in m['tensor_names_layer']['names']))
            if m["notes"]:
                log(f"   NOTES {m['notes']}")
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            failures.append((case["name"], repr(e)))
            log(f"!! {case['name']} FAILED: {e!r}")
    write_summary(args.out, metas, failures)
    total = 0
    for root, _, fns in os.walk(args.out):
        total += sum(os.path.getsize(os.path.join(root, fn)) for fn in fns)
    log(f"\nTOTAL {total} bytes ({total / 2**20:.2f} MiB); failures: {[n for n, _ in failures]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
