// make_backend, default_device and the host implementation of Backend::decode_sample (see moe/backend.h).
// Compiled in both builds: without CUDA, make_cuda_backend is the stub that says so, and the probe finds no
// GPU, so "auto" is the CPU.
#include "moe/backend.h"
#include "moe/device.h"
#include "moe/error.h"

namespace moe {

std::string default_device() {
  return probe_gpus().gpus.empty() ? "cpu" : "cuda";
}

std::unique_ptr<Backend> make_backend(const Model& model, const std::string& device,
                                      const BackendOptions& options) {
  if (device == "cpu") return make_cpu_backend(model, options);
  // "auto" with a GPU is CUDA even when the model does not fit there: the out-of-memory error says so, rather
  // than a silent fall-back to a backend a hundred times slower.
  if (device == "auto")
    return default_device() == "cuda" ? make_cuda_backend(model, options) : make_cpu_backend(model, options);
  if (device == "cuda") {
    GpuProbe probe = probe_gpus();
    if (probe.gpus.empty()) throw Error("--device cuda: no GPU to run on (" + probe.why_none + ")");
    return make_cuda_backend(model, options);
  }
  throw Error("unknown device '" + device + "': choose cpu, cuda or auto");
}

// Forward of the one token, then the CPU sampler on its logits: the reference the CUDA backend's on-device
// sampling is held to, and what any backend without its own sampler does.
SampleResult Backend::decode_sample(int32_t token, const SamplingParams& params,
                                    std::span<const int32_t> history, uint64_t step, int top_logprobs,
                                    RoutingBatch* routing) {
  std::vector<float> logits;
  const int32_t one[1] = {token};
  forward(std::span<const int32_t>(one, 1), LogitsMode::Last, logits, routing);
  return sample_token(logits, params, history, step, top_logprobs);
}

}  // namespace moe
