// The state of one render shared by the interpreter and the built-ins: the budget (steps, sizes), the
// recursion counters, and the mutable objects (scopes, namespaces, loop objects) that could form reference
// cycles; those are emptied when the render ends so that nothing leaks and no long chain is destroyed
// recursively.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moe/chat_template.h"
#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/value.h"

namespace moe::jinja {

// A scope: the variables set in a template body, a loop iteration, a macro call.
struct Frame {
  explicit Frame(std::shared_ptr<Frame> p = nullptr) : parent(std::move(p)) {}
  std::shared_ptr<Frame> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find_local(std::string_view name) const {
    for (const auto& [k, v] : vars)
      if (k == name) return &v;
    return nullptr;
  }
  void set(const std::string& name, Value value) {
    for (auto& [k, v] : vars)
      if (k == name) {
        v = std::move(value);
        return;
      }
    vars.emplace_back(name, std::move(value));
  }
};
using FramePtr = std::shared_ptr<Frame>;

// Evaluation may nest this deep (expressions within statements within macro calls) before it is stopped:
// a bound on the native stack whatever the template does.
constexpr int kMaxEvalNesting = 1500;

class Runtime {
 public:
  explicit Runtime(const TemplateLimits& limits)
      : budget(limits.max_steps, limits.max_output_bytes), limits_(limits) {}
  ~Runtime() { release(); }
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Budget budget;

  // Calls a callable value (a macro, a global function, a bound method); fails for anything else.
  Value call(const Value& callee, CallArgs& args);

  std::shared_ptr<Namespace> make_namespace() {
    budget.step();
    auto ns = std::make_shared<Namespace>();
    namespaces_.push_back(ns);
    return ns;
  }
  // Keeps a scope or loop object that something captured (a macro's closure, a stored `loop`) until
  // the end of the render, when it is emptied.
  void retain(FramePtr frame) { frames_.push_back(std::move(frame)); }
  void retain(std::shared_ptr<LoopState> loop) { loops_.push_back(std::move(loop)); }
  void release();

  // RAII counters for macro recursion and evaluation nesting.
  class Nesting {
   public:
    explicit Nesting(Runtime& rt) : rt_(rt) {
      if (++rt_.nesting_ > kMaxEvalNesting) {
        --rt_.nesting_;
        fail("evaluation nested more than " + std::to_string(kMaxEvalNesting) + " levels deep");
      }
    }
    ~Nesting() { --rt_.nesting_; }

   private:
    Runtime& rt_;
  };
  class MacroCall {
   public:
    explicit MacroCall(Runtime& rt) : rt_(rt) {
      if (++rt_.macro_depth_ > rt_.limits_.max_recursion) {
        --rt_.macro_depth_;
        fail("macro calls nested more than max_recursion (" + std::to_string(rt_.limits_.max_recursion) +
             ") deep");
      }
    }
    ~MacroCall() { --rt_.macro_depth_; }

   private:
    Runtime& rt_;
  };

 private:
  const TemplateLimits& limits_;
  int nesting_ = 0;
  int macro_depth_ = 0;
  std::vector<std::shared_ptr<Namespace>> namespaces_;
  std::vector<FramePtr> frames_;
  std::vector<std::shared_ptr<LoopState>> loops_;
};

}  // namespace moe::jinja
