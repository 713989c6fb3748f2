// Walks a parsed template: renders statements into a string and evaluates expressions, with jinja2's
// scoping (a loop iteration, a macro call, {% with %} and block captures are new scopes; {% if %} is not)
// and the render's limits. Errors leave as moe::Error carrying the line and column of the innermost
// expression or statement that failed.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/runtime.h"

namespace moe::jinja {

class Interpreter {
 public:
  explicit Interpreter(const TemplateLimits& limits) : rt_(limits) {}

  std::string render(const Template& tpl, std::vector<std::pair<std::string, Value>> variables);

  Runtime& runtime() { return rt_; }

 private:
  enum class Flow { Normal, Break, Continue };

  Flow exec_body(const Body& body, const FramePtr& frame, std::string& out);
  Flow exec(const Stmt& s, const FramePtr& frame, std::string& out);
  Flow exec_for(const ForStmt& s, const FramePtr& frame, std::string& out);
  void run_loop(const ForStmt& s, const FramePtr& frame, const Value& iterable, int depth0, std::string& out);
  void exec_set(const AssignTarget& target, Value value, const FramePtr& frame);
  std::string capture(const Body& body, const FramePtr& frame);

  Value eval(const Expr& e, const FramePtr& frame);
  Value eval_node(const Expr& e, const FramePtr& frame);
  Value eval_call(const CallExpr& e, const FramePtr& frame, const Value* caller);
  CallArgs eval_args(const Arguments& a, const FramePtr& frame);
  Value apply_filter_chain(const Expr& filter, Value input, const FramePtr& frame);
  Value lookup(const std::string& name, const Frame& frame);
  void assign(const Expr& target, const Value& value, Frame& frame);

  Value make_macro(const MacroStmt& m, const FramePtr& closure);
  Value call_macro(const MacroStmt& m, const FramePtr& closure, CallArgs& args);

  void append(std::string& out, std::string_view text);

  Runtime rt_;
};

}  // namespace moe::jinja
