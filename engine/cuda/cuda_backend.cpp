// The CUDA backend (see moe/backend.h): allocates the memory plan up front (a clear error when it does not
// fit), uploads the weights once, and runs prompts through prefill_forward and single tokens through the
// decode step, replayed from a captured CUDA graph. decode_sample keeps the sampling on the device too, so a
// generated token costs one small host-to-device copy, one graph launch and one device-to-host copy.
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"
#include "cuda/decode.h"
#include "cuda/device_weights.h"
#include "cuda/memory_plan.h"
#include "cuda/prefill.h"
#include "cuda/sampler.h"
#include "moe/backend.h"
#include "moe/device.h"
#include "moe/error.h"
#include "moe/rope.h"

namespace moe {
namespace {

using namespace moe::cuda;

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
  return buf;
}

// Pinned host memory for the per-step transfers.
template <class T>
T* pinned(size_t n) {
  void* p = nullptr;
  MOE_CUDA_CHECK(cudaMallocHost(&p, sizeof(T) * std::max<size_t>(n, 1)));
  return static_cast<T*>(p);
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelSpec& spec, const ModelWeights* weights, uint64_t seed, const BackendOptions& o)
      : graphs_enabled_(o.cuda_graphs) {
    c_.spec = spec;
    c_.ctx = default_context_length(spec, o.context_length);
    c_.device = o.cuda_device;
    c_.n_moe_layers = spec.num_moe_layers();
    c_.top_k = std::max<int64_t>(spec.top_k, 1);
    GpuProbe probe = probe_gpus();
    if (probe.gpus.empty()) throw Error("CUDA backend: " + probe.why_none);
    if (c_.device < 0 || c_.device >= int(probe.gpus.size()))
      throw Error("CUDA backend: no device " + std::to_string(c_.device) + " (" +
                  std::to_string(probe.gpus.size()) + " found)");
    gpu_name_ = probe.gpus[size_t(c_.device)].name;
    MOE_CUDA_CHECK(cudaSetDevice(c_.device));
    cudaDeviceProp prop{};
    MOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, c_.device));
    c_.sm_count = prop.multiProcessorCount;
    if (prop.major < 9)
      throw Error("CUDA backend: this build's kernels are for sm_90 (Hopper) and newer; " + gpu_name_ +
                  " is sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                  " (use --device cpu, or rebuild with MOE_CUDA_ARCHS including it)");
    if (spec.n_group > 32)
      throw Error("CUDA backend: " + std::to_string(spec.n_group) +
                  " expert groups; the router kernels take 32");

    plan_ = cuda_memory_plan(spec, c_.ctx);
    check_fits();
    try {
      allocate_and_fill(weights, seed);
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaBackend() override { release(); }

  std::string name() const override { return "cuda"; }
  int64_t cache_length() const override { return len_; }
  int64_t context_length() const override { return c_.ctx; }
  size_t kv_cache_bytes() const override { return plan_.kv_cache; }
  MemoryPlan memory_plan() const override { return plan_; }
  void truncate(int64_t n) override { len_ = std::clamp<int64_t>(n, 0, len_); }

  void forward(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>& logits,
               RoutingBatch* routing) override {
    const int64_t n = int64_t(tokens.size()), V = c_.spec.vocab_size;
    validate(tokens);
    MOE_CUDA_CHECK(cudaSetDevice(c_.device));  // the caller's thread may have another current device
    const int64_t k = c_.top_k, L = c_.n_moe_layers;
    if (routing) routing->reset(n, L, k);
    if (n == 1) {
      step_params_->token = tokens[0];
      step_params_->pos = int32_t(len_);
      run_decode(std::nullopt);
      logits.resize(size_t(V));
      MOE_CUDA_CHECK(cudaMemcpyAsync(logits.data(), c_.d.logits, sizeof(float) * size_t(V),
                                     cudaMemcpyDeviceToHost, c_.stream));
      MOE_CUDA_CHECK(
          cudaMemcpyAsync(sample_host_, c_.d.sample, sizeof(SampleOut), cudaMemcpyDeviceToHost, c_.stream));
      copy_step_routing(routing, 0);
      MOE_CUDA_CHECK(cudaStreamSynchronize(c_.stream));
      check_step_finite();
      ++len_;
      return;
    }
    const bool all = mode == LogitsMode::All;
    logits.resize(size_t((all ? n : 1) * V));
    const int64_t chunk = all ? std::min(c_.prefill_chunk, c_.logits_rows) : c_.prefill_chunk;
    update_rope(len_ + n);  // dynamic NTK: the whole call's length, as the CPU (and transformers) use
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t m = std::min(chunk, n - start);
      const bool last = start + m == n;
      MOE_CUDA_CHECK(cudaMemcpyAsync(tokens_dev_, tokens.data() + start, sizeof(int32_t) * size_t(m),
                                     cudaMemcpyHostToDevice, c_.stream));
      prefill_forward(c_, tokens_dev_, m, len_, all, c_.d.logits, prefill_experts_, prefill_weights_);
      if (all || last)
        MOE_CUDA_CHECK(cudaMemcpyAsync(logits.data() + (all ? start * V : 0), c_.d.logits,
                                       sizeof(float) * size_t((all ? m : 1) * V), cudaMemcpyDeviceToHost,
                                       c_.stream));
      if (routing && L > 0) {
        MOE_CUDA_CHECK(cudaMemcpyAsync(routing->experts_at(start, 0), prefill_experts_,
                                       sizeof(int32_t) * size_t(m * L * k), cudaMemcpyDeviceToHost,
                                       c_.stream));
        MOE_CUDA_CHECK(cudaMemcpyAsync(routing->weights_at(start, 0), prefill_weights_,
                                       sizeof(float) * size_t(m * L * k), cudaMemcpyDeviceToHost, c_.stream));
      }
      MOE_CUDA_CHECK(cudaStreamSynchronize(c_.stream));
      len_ += m;
    }
    // A prompt invalidates what the sampler knew of the history.
    seen_.clear();
    seen_valid_ = false;
  }

  SampleResult decode_sample(int32_t token, const SamplingParams& p, std::span<const int32_t> history,
                             uint64_t step, int top_logprobs, RoutingBatch* routing) override {
    if (top_logprobs > kMaxTopLogprobs)
      return Backend::decode_sample(token, p, history, step, top_logprobs, routing);
    const int32_t one[1] = {token};
    validate(std::span<const int32_t>(one, 1));
    MOE_CUDA_CHECK(cudaSetDevice(c_.device));
    if (routing) routing->reset(1, c_.n_moe_layers, c_.top_k);
    sync_seen(history);
    StepParams& sp = *step_params_;
    sp.token = token;
    sp.pos = int32_t(len_);
    sp.temperature = float(p.temperature);
    sp.top_k = int32_t(std::min<int64_t>(p.top_k, c_.spec.vocab_size));
    sp.top_p = float(p.top_p);
    sp.min_p = float(p.min_p);
    sp.repetition_penalty = float(p.repetition_penalty);
    sp.presence_penalty = float(p.presence_penalty);
    sp.seed = p.seed;
    sp.step = step;
    sp.top_logprobs = top_logprobs;
    try {
      run_decode(sampler_mode(p));
    } catch (...) {
      seen_valid_ = false;  // the step (and its marking of `token`) may not have run
      throw;
    }
    MOE_CUDA_CHECK(
        cudaMemcpyAsync(sample_host_, c_.d.sample, sizeof(SampleOut), cudaMemcpyDeviceToHost, c_.stream));
    copy_step_routing(routing, 0);
    MOE_CUDA_CHECK(cudaStreamSynchronize(c_.stream));
    check_step_finite();
    ++len_;
    SampleResult r;
    r.token = sample_host_->token;
    r.logprob = sample_host_->logprob;
    for (int i = 0; i < top_logprobs && i < kMaxTopLogprobs; ++i)
      r.top.push_back({sample_host_->top_ids[i], sample_host_->top_logprobs[i]});
    return r;
  }

 private:
  void validate(std::span<const int32_t> tokens) const {
    const int64_t n = int64_t(tokens.size());
    if (n == 0) throw Error("forward: no tokens");
    if (len_ + n > c_.ctx)
      throw Error("context full: " + std::to_string(len_ + n) + " positions needed, the KV cache holds " +
                  std::to_string(c_.ctx));
    for (int32_t id : tokens)
      if (id < 0 || id >= c_.spec.vocab_size)
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(c_.spec.vocab_size));
  }

  // The decode step's residual is summed in fixed point, which cannot carry inf, NaN or parts of 2^23 and
  // more: the kernels that convert report the first layer where such a value appeared
  // (SampleOut::nonfinite_*). Attention outputs that are not fused into the fixed point (MLA's O GEMV, heads
  // of other sizes than 128) reach the residual as floats, so their overflow shows in the layer's FFN.
  void check_step_finite() const {
    const int32_t attn = sample_host_->nonfinite_attn, ffn = sample_host_->nonfinite_ffn;
    if (attn == 0 && ffn == 0) return;
    const bool in_attn = attn != 0 && (ffn == 0 || attn <= ffn);
    const int32_t layer = (in_attn ? attn : ffn) - 1;
    throw Error("CUDA decode: the " + std::string(in_attn ? "attention" : "feed-forward") +
                " output of layer " + std::to_string(layer) + " (model.layers." + std::to_string(layer) +
                ") at position " + std::to_string(len_) +
                " holds an infinite, NaN or out-of-range value (|x| >= 2^23" +
                (in_attn ? "" : ", there or in its input") +
                "): the model's weights or activations overflow. The position is not kept.");
  }

  void check_fits() {
    size_t free = 0, total = 0;
    MOE_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    const size_t reserve = kCudaMemoryReserve;
    const size_t need = plan_.total() + reserve;
    if (need > free)
      throw Error("out of GPU memory: the model needs " + gib(double(need)) + " (weights " +
                  gib(double(plan_.weights)) + ", KV cache " + gib(double(plan_.kv_cache)) + " for " +
                  std::to_string(c_.ctx) + " positions, workspace " + gib(double(plan_.workspace)) +
                  ", reserve " + gib(double(reserve)) + ") but " + gpu_name_ + " has " + gib(double(free)) +
                  " free of " + gib(double(total)) + ": " + gib(double(need - free)) +
                  " short. Choose a shorter context or a smaller model.");
  }

  // cudaMalloc with an out-of-memory message that says what did not fit and by how much (check_fits
  // covers the usual case; another process or fragmentation can still fail an allocation).
  template <class T>
  void allocate(T*& p, size_t bytes, const char* what) {
    void* raw = nullptr;
    const cudaError_t err = cudaMalloc(&raw, std::max<size_t>(bytes, 1));
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      throw Error("out of GPU memory: the " + std::string(what) + " needs " + gib(double(bytes)) + " but " +
                  gpu_name_ + " has " + gib(double(free)) + " free of " + gib(double(total)) +
                  (bytes > free ? ": " + gib(double(bytes - free)) + " short" : " (fragmented)") +
                  ". Choose a shorter context or a smaller model.");
    }
    MOE_CUDA_CHECK(err);
    p = static_cast<T*>(raw);
  }

  template <class T>
  T* carve(std::byte*& at, size_t n) {
    T* p = reinterpret_cast<T*>(at);
    at += (sizeof(T) * n + 255) / 256 * 256;
    return p;
  }

  void allocate_and_fill(const ModelWeights* weights, uint64_t seed) {
    MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&c_.stream, cudaStreamNonBlocking));
    MOE_CUDA_CHECK(cublasCreate(&c_.cublas));
    MOE_CUDA_CHECK(cublasSetStream(c_.cublas, c_.stream));

    // Weights.
    std::vector<WeightSlot> slots;
    layout_weights(c_.spec, weights, nullptr, &slots);
    allocate(weights_base_, plan_.weights, "weights");
    c_.w = layout_weights(c_.spec, weights, weights_base_, nullptr);
    if (weights)
      upload_weights(slots, weights_base_, c_.stream);
    else
      fill_random_weights(slots, weights_base_, seed, c_.stream);

    // KV cache.
    allocate(kv_base_, plan_.kv_cache, "KV cache");
    const ModelSpec& s = c_.spec;
    const bool mla = s.attention == AttentionKind::MLA;
    c_.kv.k_width = kv_key_width(s);
    c_.kv.v_width = kv_value_width(s);
    auto* kv = reinterpret_cast<bf16*>(kv_base_);
    for (int64_t l = 0; l < s.num_layers; ++l) {
      c_.kv.k.push_back(kv);
      kv += c_.ctx * c_.kv.k_width;
      c_.kv.v.push_back(mla ? nullptr : kv);
      kv += c_.ctx * c_.kv.v_width;
    }

    // Workspace: decode buffers, prefill, sampler.
    c_.prefill_chunk = prefill_chunk(c_.ctx);
    c_.logits_rows = logits_rows(s, c_.ctx);
    allocate(workspace_base_, plan_.workspace, "workspace");
    std::byte* at = workspace_base_;
    at += layout_decode_buffers(s, c_.ctx, c_.logits_rows, at, &c_.d);
    c_.prefill_workspace_bytes = prefill_workspace_bytes(s, c_.prefill_chunk);
    c_.prefill_workspace = at;
    at += c_.prefill_workspace_bytes;
    c_.d.sampler_workspace_bytes = sampler_workspace_bytes(s.vocab_size);
    c_.d.sampler_workspace = at;
    MOE_CUDA_CHECK(cudaMemsetAsync(c_.d.seen, 0, size_t(s.vocab_size), c_.stream));

    // Small device buffers outside the plan's workspace (tokens and routing of one prefill chunk).
    const size_t route = size_t(c_.prefill_chunk * std::max<int64_t>(c_.n_moe_layers, 1) * c_.top_k);
    allocate(tokens_dev_, sizeof(int32_t) * size_t(c_.prefill_chunk), "prompt chunk");
    allocate(prefill_experts_, sizeof(int32_t) * route, "routing record");
    allocate(prefill_weights_, sizeof(float) * route, "routing record");

    // Rotary frequencies.
    c_.rot_dim = mla ? s.qk_rope_head_dim : s.head_dim;
    allocate(c_.inv_freq, sizeof(float) * size_t(std::max<int64_t>(c_.rot_dim / 2, 1)), "rotary table");
    update_rope(1);

    step_params_ = pinned<StepParams>(1);
    *step_params_ = StepParams{};
    sample_host_ = pinned<SampleOut>(1);
    prepare_decode_kernels(c_);
    MOE_CUDA_CHECK(cudaStreamSynchronize(c_.stream));
  }

  // Dynamic NTK frequencies depend on the sequence length; the others are computed once.
  void update_rope(int64_t seq_len) {
    if (rope_set_ && c_.spec.rope.type != RopeType::Dynamic) return;
    RopeFrequencies f = rope_frequencies(c_.spec, c_.rot_dim, seq_len);
    if (rope_set_ && f.inv_freq == rope_host_ && f.cos_sin_scale == c_.cos_sin_scale) return;
    rope_host_ = f.inv_freq;
    c_.cos_sin_scale = f.cos_sin_scale;
    if (!rope_host_.empty())
      MOE_CUDA_CHECK(cudaMemcpyAsync(c_.inv_freq, rope_host_.data(), sizeof(float) * rope_host_.size(),
                                     cudaMemcpyHostToDevice, c_.stream));
    MOE_CUDA_CHECK(cudaStreamSynchronize(c_.stream));  // rope_host_ may change before the copy ran
    rope_set_ = true;
  }

  // The sampler's seen-token flags must equal the history minus the step's own token (marked in the step).
  void sync_seen(std::span<const int32_t> history) {
    const size_t before = history.empty() ? 0 : history.size() - 1;
    const bool extends =
        seen_valid_ && seen_.size() == before && std::equal(seen_.begin(), seen_.end(), history.begin());
    if (!extends) {
      upload_seen(c_, history.first(before));
      seen_.assign(history.begin(), history.begin() + int64_t(before));
      seen_valid_ = true;
    }
    if (!history.empty()) seen_.push_back(history.back());
  }

  // Runs one decode step for *step_params_ (with sampling when `mode` is given): a graph replay when graphs
  // are on (captured on first use per mode), eager launches otherwise.
  void run_decode(std::optional<SamplerMode> mode) {
    update_rope(len_ + 1);
    MOE_CUDA_CHECK(
        cudaMemcpyAsync(c_.d.params, step_params_, sizeof(StepParams), cudaMemcpyHostToDevice, c_.stream));
    auto enqueue = [&] {
      enqueue_decode_step(c_);
      if (mode) {
        enqueue_mark_seen(c_);
        enqueue_sample(c_, *mode);
      }
    };
    if (!graphs_enabled_) {
      enqueue();
      return;
    }
    const int key = mode ? int(*mode) : -1;
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      cudaGraph_t graph = nullptr;
      MOE_CUDA_CHECK(cudaStreamBeginCapture(c_.stream, cudaStreamCaptureModeThreadLocal));
      try {
        enqueue();
      } catch (...) {
        cudaStreamEndCapture(c_.stream, &graph);
        if (graph) cudaGraphDestroy(graph);
        throw;
      }
      MOE_CUDA_CHECK(cudaStreamEndCapture(c_.stream, &graph));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      MOE_CUDA_CHECK(err);
      it = graphs_.emplace(key, exec).first;
    }
    MOE_CUDA_CHECK(cudaGraphLaunch(it->second, c_.stream));
  }

  void copy_step_routing(RoutingBatch* routing, int64_t row) {
    if (!routing || c_.n_moe_layers == 0) return;
    const size_t n = size_t(c_.n_moe_layers * c_.top_k);
    MOE_CUDA_CHECK(cudaMemcpyAsync(routing->experts_at(row, 0), c_.d.route_experts, sizeof(int32_t) * n,
                                   cudaMemcpyDeviceToHost, c_.stream));
    MOE_CUDA_CHECK(cudaMemcpyAsync(routing->weights_at(row, 0), c_.d.route_weights, sizeof(float) * n,
                                   cudaMemcpyDeviceToHost, c_.stream));
  }

  void release() {
    if (c_.stream) cudaStreamSynchronize(c_.stream);
    for (auto& [key, exec] : graphs_)
      cudaGraphExecDestroy(exec);
    graphs_.clear();
    for (void* p : {static_cast<void*>(weights_base_), static_cast<void*>(kv_base_),
                    static_cast<void*>(workspace_base_), static_cast<void*>(tokens_dev_),
                    static_cast<void*>(prefill_experts_), static_cast<void*>(prefill_weights_),
                    static_cast<void*>(c_.inv_freq)})
      if (p) cudaFree(p);
    weights_base_ = kv_base_ = workspace_base_ = nullptr;
    tokens_dev_ = prefill_experts_ = nullptr;
    prefill_weights_ = c_.inv_freq = nullptr;
    if (step_params_) cudaFreeHost(step_params_);
    if (sample_host_) cudaFreeHost(sample_host_);
    step_params_ = nullptr;
    sample_host_ = nullptr;
    if (c_.cublas) cublasDestroy(c_.cublas);
    if (c_.stream) cudaStreamDestroy(c_.stream);
    c_.cublas = nullptr;
    c_.stream = nullptr;
  }

  CudaContext c_;
  MemoryPlan plan_;
  std::string gpu_name_;
  bool graphs_enabled_ = true;
  int64_t len_ = 0;
  std::byte* weights_base_ = nullptr;
  std::byte* kv_base_ = nullptr;
  std::byte* workspace_base_ = nullptr;
  int32_t* tokens_dev_ = nullptr;
  int32_t* prefill_experts_ = nullptr;
  float* prefill_weights_ = nullptr;
  StepParams* step_params_ = nullptr;
  SampleOut* sample_host_ = nullptr;
  std::map<int, cudaGraphExec_t> graphs_;
  std::vector<float> rope_host_;
  bool rope_set_ = false;
  std::vector<int32_t> seen_;
  bool seen_valid_ = false;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const Model& model, const BackendOptions& options) {
  return std::make_unique<CudaBackend>(model.spec(), &model.weights(), 0, options);
}

std::unique_ptr<Backend> make_cuda_backend_random(const ModelSpec& spec, uint64_t seed,
                                                  const BackendOptions& options) {
  return std::make_unique<CudaBackend>(spec, nullptr, seed, options);
}

}  // namespace moe
