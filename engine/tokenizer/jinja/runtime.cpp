#include "tokenizer/jinja/runtime.h"

namespace moe::jinja {

Value Runtime::call(const Value& callee, CallArgs& args) {
  budget.step();
  if (callee.kind() == Value::Kind::Callable) return callee.fn().fn(*this, args);
  if (callee.kind() == Value::Kind::Loop) {
    const Value recurse = callee.loop().recurse;
    if (recurse.kind() != Value::Kind::Callable)
      fail("Tried to call non recursive loop.  Maybe you forgot the 'recursive' modifier.");
    return recurse.fn().fn(*this, args);
  }
  if (callee.is_undefined()) fail(callee.undefined_hint());
  fail("'" + type_name(callee) + "' object is not callable");
}

void Runtime::release() {
  // The registries hold every such object, so emptying one never destroys another recursively; what the
  // objects held is then freed a level at a time.
  for (auto& ns : namespaces_)
    ns->attrs.clear();
  for (auto& f : frames_) {
    f->vars.clear();
    f->parent.reset();
  }
  for (auto& l : loops_) {
    l->items.clear();
    l->recurse = Value();
    l->changed_value.clear();
  }
  namespaces_.clear();
  frames_.clear();
  loops_.clear();
}

}  // namespace moe::jinja
