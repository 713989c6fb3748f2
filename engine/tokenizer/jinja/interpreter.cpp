// Statement execution and expression evaluation (what jinja2's compiler.py turns a template into).
#include "tokenizer/jinja/interpreter.h"

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/operators.h"

namespace moe::jinja {

std::string Interpreter::render(const Template& tpl, std::vector<std::pair<std::string, Value>> variables) {
  auto top = std::make_shared<Frame>();
  top->vars = std::move(variables);
  std::string out;
  exec_body(tpl.body, top, out);
  rt_.retain(top);  // macros defined at the top level refer back to it
  rt_.release();
  return out;
}

void Interpreter::append(std::string& out, std::string_view text) {
  rt_.budget.limit(out.size() + text.size());
  out.append(text);
}

// ---- statements

Interpreter::Flow Interpreter::exec_body(const Body& body, const FramePtr& frame, std::string& out) {
  for (const StmtPtr& s : body) {
    const Flow f = exec(*s, frame, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

std::string Interpreter::capture(const Body& body, const FramePtr& frame) {
  auto inner = std::make_shared<Frame>(frame);
  std::string buf;
  exec_body(body, inner, buf);
  if (inner.use_count() > 1) rt_.retain(inner);
  return buf;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, const FramePtr& frame, std::string& out) {
  Runtime::Nesting nesting(rt_);
  try {
    rt_.budget.step();
    switch (s.kind) {
      case Stmt::Kind::Output:
        append(out, static_cast<const OutputStmt&>(s).text);
        return Flow::Normal;
      case Stmt::Kind::Print: {
        const Value v = eval(*static_cast<const PrintStmt&>(s).expr, frame);
        append_str(out, v, rt_.budget);
        return Flow::Normal;
      }
      case Stmt::Kind::If: {
        const auto& node = static_cast<const IfStmt&>(s);
        for (const auto& [test, body] : node.branches)
          if (truthy(eval(*test, frame))) return exec_body(body, frame, out);
        return exec_body(node.otherwise, frame, out);
      }
      case Stmt::Kind::For:
        return exec_for(static_cast<const ForStmt&>(s), frame, out);
      case Stmt::Kind::Set: {
        const auto& node = static_cast<const SetStmt&>(s);
        exec_set(node.target, eval(*node.value, frame), frame);
        return Flow::Normal;
      }
      case Stmt::Kind::SetBlock: {
        const auto& node = static_cast<const SetBlockStmt&>(s);
        Value v = Value::string(capture(node.body, frame));
        if (node.filter) v = apply_filter_chain(*node.filter, std::move(v), frame);
        exec_set(node.target, std::move(v), frame);
        return Flow::Normal;
      }
      case Stmt::Kind::Macro: {
        const auto& node = static_cast<const MacroStmt&>(s);
        frame->set(node.name, make_macro(node, frame));
        rt_.retain(frame);  // the macro refers to the scope it was defined in
        return Flow::Normal;
      }
      case Stmt::Kind::CallBlock: {
        const auto& node = static_cast<const CallBlockStmt&>(s);
        const Value caller = make_macro(*node.body, frame);
        rt_.retain(frame);
        const Value v = eval_call(static_cast<const CallExpr&>(*node.call), frame, &caller);
        append_str(out, v, rt_.budget);
        return Flow::Normal;
      }
      case Stmt::Kind::FilterBlock: {
        const auto& node = static_cast<const FilterBlockStmt&>(s);
        const Value v = apply_filter_chain(*node.filter, Value::string(capture(node.body, frame)), frame);
        append_str(out, v, rt_.budget);
        return Flow::Normal;
      }
      case Stmt::Kind::With: {
        const auto& node = static_cast<const WithStmt&>(s);
        auto inner = std::make_shared<Frame>(frame);
        for (const auto& [target, value] : node.assignments)
          assign(*target, eval(*value, frame), *inner);
        const Flow f = exec_body(node.body, inner, out);
        if (inner.use_count() > 1) rt_.retain(inner);
        return f;
      }
      case Stmt::Kind::Break:
        return Flow::Break;
      case Stmt::Kind::Continue:
        return Flow::Continue;
      case Stmt::Kind::Scope:
        return exec_body(static_cast<const ScopeStmt&>(s).body, frame, out);
    }
  } catch (const Failure& f) {
    throw_error(s.pos, f.message);
  }
  return Flow::Normal;
}

void Interpreter::exec_set(const AssignTarget& target, Value value, const FramePtr& frame) {
  if (target.ns_name.empty()) {
    assign(*target.names, value, *frame);
    return;
  }
  const Value ns = lookup(target.ns_name, *frame);
  if (ns.kind() != Value::Kind::Namespace) fail("cannot assign attribute on non-namespace object");
  rt_.budget.step(int64_t(ns.ns().attrs.size() / 8));
  ns.ns().set(target.ns_attr, std::move(value));
}

void Interpreter::assign(const Expr& target, const Value& value, Frame& frame) {
  if (target.kind == Expr::Kind::Name) {
    rt_.budget.step(int64_t(frame.vars.size() / 8));
    frame.set(static_cast<const NameExpr&>(target).name, value);
    return;
  }
  const auto& names = static_cast<const SeqExpr&>(target).items;
  if (value.is_undefined()) fail(value.undefined_hint());
  if (!(value.is_list() || value.is_string() || value.is_dict()))
    fail("cannot unpack non-iterable " + type_name(value) + " object");
  const std::vector<Value> items = iterate(rt_, value);
  if (items.size() < names.size())
    fail("not enough values to unpack (expected " + std::to_string(names.size()) + ", got " +
         std::to_string(items.size()) + ")");
  if (items.size() > names.size())
    fail("too many values to unpack (expected " + std::to_string(names.size()) + ")");
  for (size_t i = 0; i < names.size(); ++i)
    assign(*names[i], items[i], frame);
}

Interpreter::Flow Interpreter::exec_for(const ForStmt& s, const FramePtr& frame, std::string& out) {
  const Value iterable = eval(*s.iter, frame);
  run_loop(s, frame, iterable, 0, out);
  return Flow::Normal;
}

void Interpreter::run_loop(const ForStmt& s, const FramePtr& frame, const Value& iterable, int depth0,
                           std::string& out) {
  std::vector<Value> items = iterate(rt_, iterable);
  if (s.filter) {  // `for x in xs if cond`: loop.index, length and last count the kept items only
    std::vector<Value> kept;
    auto test_frame = std::make_shared<Frame>(frame);
    for (Value& item : items) {
      rt_.budget.step();
      test_frame->vars.clear();
      assign(*s.target, item, *test_frame);
      if (truthy(eval(*s.filter, test_frame))) kept.push_back(std::move(item));
    }
    if (test_frame.use_count() > 1) rt_.retain(test_frame);
    items = std::move(kept);
  }
  if (items.empty()) {
    auto else_frame = std::make_shared<Frame>(frame);
    exec_body(s.otherwise, else_frame, out);
    if (else_frame.use_count() > 1) rt_.retain(else_frame);
    return;
  }
  auto loop = std::make_shared<LoopState>();
  loop->items = std::move(items);
  loop->depth0 = depth0;
  if (s.recursive) {
    loop->recurse = Value::callable("loop", [this, &s, frame, depth0](Runtime&, CallArgs& args) {
      if (args.positional.size() != 1 || !args.keywords.empty()) fail("loop() takes exactly one argument");
      Runtime::MacroCall depth(rt_);
      std::string buf;
      run_loop(s, frame, args.positional[0], depth0 + 1, buf);
      return Value::string(std::move(buf));
    });
  }
  const Value loop_value = Value::from_loop(loop);
  FramePtr it = std::make_shared<Frame>(frame);
  for (size_t i = 0; i < loop->items.size(); ++i) {
    rt_.budget.step();
    loop->index0 = i;
    if (it.use_count() > 1) {  // the previous iteration's scope was captured: keep it, start a new one
      rt_.retain(it);
      it = std::make_shared<Frame>(frame);
    } else {
      it->vars.clear();
    }
    assign(*s.target, loop->items[i], *it);
    it->set("loop", loop_value);
    if (exec_body(s.body, it, out) == Flow::Break) break;
  }
  if (it.use_count() > 1)
    rt_.retain(it);
  else
    it->vars.clear();
  if (loop.use_count() > 2) rt_.retain(loop);  // `loop` stored somewhere outlives the loop
}

// ---- macros

Value Interpreter::make_macro(const MacroStmt& m, const FramePtr& closure) {
  return Value::callable("Macro '" + m.name + "'", [this, &m, closure](Runtime&, CallArgs& args) {
    return call_macro(m, closure, args);
  });
}

Value Interpreter::call_macro(const MacroStmt& m, const FramePtr& closure, CallArgs& args) {
  Runtime::MacroCall depth(rt_);
  auto f = std::make_shared<Frame>(closure);
  const size_t n = m.params.size();
  const size_t first_default = n - m.defaults.size();
  std::vector<bool> given(n, false);
  for (size_t i = 0; i < args.positional.size() && i < n; ++i) {
    f->set(m.params[i], args.positional[i]);
    given[i] = true;
  }
  std::vector<Value> extra_positional;
  if (args.positional.size() > n) {
    if (!m.uses_varargs)
      fail("macro '" + m.name + "' takes not more than " + std::to_string(n) + " argument(s)");
    extra_positional.assign(args.positional.begin() + std::ptrdiff_t(n), args.positional.end());
  }
  DictBuilder extra_keywords(rt_.budget);
  bool caller_given = false;
  for (auto& [key, value] : args.keywords) {
    size_t i = 0;
    while (i < n && m.params[i] != key)
      ++i;
    if (i < n) {
      if (given[i]) fail("macro '" + m.name + "' got multiple values for argument '" + key + "'");
      f->set(key, value);
      given[i] = true;
    } else if (key == "caller" && m.uses_caller) {
      f->set("caller", value);
      caller_given = true;
    } else if (m.uses_kwargs) {
      extra_keywords.set(Value::string(key), value);
    } else {
      fail("macro '" + m.name + "' takes no keyword argument '" + key + "'");
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (given[i]) continue;
    if (i >= first_default)
      f->set(m.params[i], eval(*m.defaults[i - first_default], f));
    else
      f->set(m.params[i], Value::undefined("parameter '" + m.params[i] + "' was not provided"));
  }
  if (m.uses_varargs) f->set("varargs", Value::list(std::move(extra_positional), ListKind::Tuple));
  if (m.uses_kwargs) f->set("kwargs", extra_keywords.build());
  if (m.uses_caller && !caller_given) f->set("caller", Value::undefined("No caller defined"));
  std::string buf;
  exec_body(m.body, f, buf);
  if (f.use_count() > 1) rt_.retain(f);
  return Value::string(std::move(buf));
}

// ---- expressions

Value Interpreter::lookup(const std::string& name, const Frame& frame) {
  size_t scanned = 0;  // scopes are small vectors; a template with thousands of names pays in steps
  for (const Frame* f = &frame; f; f = f->parent.get()) {
    scanned += f->vars.size();
    if (const Value* v = f->find_local(name)) {
      rt_.budget.step(int64_t(scanned / 8));
      return *v;
    }
  }
  rt_.budget.step(int64_t(scanned / 8));
  Value g = lookup_global(name);
  if (g.is_undefined()) return Value::undefined("'" + name + "' is undefined");
  return g;
}

Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
  Runtime::Nesting nesting(rt_);
  try {
    rt_.budget.step();
    return eval_node(e, frame);
  } catch (const Failure& f) {
    throw_error(e.pos, f.message);
  }
}

CallArgs Interpreter::eval_args(const Arguments& a, const FramePtr& frame) {
  CallArgs args;
  args.positional.reserve(a.positional.size());
  for (const auto& e : a.positional)
    args.positional.push_back(eval(*e, frame));
  if (a.star_args) {
    const Value extra = eval(*a.star_args, frame);
    for (Value& v : iterate(rt_, extra))
      args.positional.push_back(std::move(v));
  }
  for (const auto& [k, e] : a.keywords)
    args.keywords.emplace_back(k, eval(*e, frame));
  if (a.star_kwargs) {
    const Value extra = eval(*a.star_kwargs, frame);
    if (!extra.is_dict()) fail("argument after ** must be a mapping, not " + type_name(extra));
    for (const auto& [k, v] : extra.dict().items) {
      if (!k.is_string()) fail("keywords must be strings");
      args.keywords.emplace_back(k.str(), v);
    }
  }
  return args;
}

Value Interpreter::eval_call(const CallExpr& e, const FramePtr& frame, const Value* caller) {
  const Value callee = eval(*e.callee, frame);
  CallArgs args = eval_args(e.args, frame);
  if (caller) args.keywords.emplace_back("caller", *caller);
  return rt_.call(callee, args);
}

// A filter chain whose innermost input is missing ({% filter %}, {% set x | f %}) applied to `input`.
Value Interpreter::apply_filter_chain(const Expr& filter, Value input, const FramePtr& frame) {
  const auto& f = static_cast<const FilterExpr&>(filter);
  if (f.input) input = apply_filter_chain(*f.input, std::move(input), frame);
  CallArgs args = eval_args(f.args, frame);
  try {
    return apply_filter(rt_, f.name, input, args);
  } catch (const Failure& x) {
    throw_error(f.pos, x.message);
  }
}

Value Interpreter::eval_node(const Expr& e, const FramePtr& frame) {
  switch (e.kind) {
    case Expr::Kind::Const:
      return static_cast<const ConstExpr&>(e).value;
    case Expr::Kind::Name:
      return lookup(static_cast<const NameExpr&>(e).name, *frame);
    case Expr::Kind::List:
    case Expr::Kind::Tuple: {
      const auto& items = static_cast<const SeqExpr&>(e).items;
      rt_.budget.bytes(items.size() * sizeof(Value));
      std::vector<Value> values;
      values.reserve(items.size());
      for (const auto& item : items)
        values.push_back(eval(*item, frame));
      return Value::list(std::move(values), e.kind == Expr::Kind::List ? ListKind::List : ListKind::Tuple);
    }
    case Expr::Kind::Dict: {
      DictBuilder d(rt_.budget);
      for (const auto& [k, v] : static_cast<const DictExpr&>(e).items) {
        Value key = eval(*k, frame);
        d.set(std::move(key), eval(*v, frame));
      }
      return d.build();
    }
    case Expr::Kind::GetAttr: {
      const auto& node = static_cast<const GetAttrExpr&>(e);
      return get_attr(rt_, eval(*node.object, frame), node.attr);
    }
    case Expr::Kind::GetItem: {
      const auto& node = static_cast<const GetItemExpr&>(e);
      const Value obj = eval(*node.object, frame);
      if (node.index->kind == Expr::Kind::Slice) {
        const auto& sl = static_cast<const SliceExpr&>(*node.index);
        const Value start = sl.start ? eval(*sl.start, frame) : Value::none();
        const Value stop = sl.stop ? eval(*sl.stop, frame) : Value::none();
        const Value step = sl.step ? eval(*sl.step, frame) : Value::none();
        return get_slice(rt_, obj, start, stop, step);
      }
      return get_item(rt_, obj, eval(*node.index, frame));
    }
    case Expr::Kind::Slice:
      fail("a slice is only valid inside []");
    case Expr::Kind::Call:
      return eval_call(static_cast<const CallExpr&>(e), frame, nullptr);
    case Expr::Kind::Filter: {
      const auto& node = static_cast<const FilterExpr&>(e);
      if (!node.input) fail("filter without input");
      const Value input = eval(*node.input, frame);
      CallArgs args = eval_args(node.args, frame);
      if (!node.known) fail("No filter named '" + node.name + "' found.");
      return apply_filter(rt_, node.name, input, args);
    }
    case Expr::Kind::Test: {
      const auto& node = static_cast<const TestExpr&>(e);
      const Value input = eval(*node.input, frame);
      CallArgs args = eval_args(node.args, frame);
      if (!node.known) fail("No test named '" + node.name + "' found.");
      return Value::boolean(apply_test(rt_, node.name, input, args));
    }
    case Expr::Kind::Unary: {
      const auto& node = static_cast<const UnaryExpr&>(e);
      return unary_op(rt_, node.op, eval(*node.operand, frame));
    }
    case Expr::Kind::Binary: {
      const auto& node = static_cast<const BinaryExpr&>(e);
      Value left = eval(*node.left, frame);
      if (node.op == BinaryOp::And) return truthy(left) ? eval(*node.right, frame) : left;
      if (node.op == BinaryOp::Or) return truthy(left) ? left : eval(*node.right, frame);
      const Value right = eval(*node.right, frame);
      return binary_op(rt_, node.op, left, right);
    }
    case Expr::Kind::Compare: {
      const auto& node = static_cast<const CompareExpr&>(e);
      Value left = eval(*node.first, frame);
      for (const auto& [op, expr] : node.rest) {
        Value right = eval(*expr, frame);
        if (!compare_op(rt_, op, left, right)) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case Expr::Kind::Concat: {
      std::string s;
      for (const auto& item : static_cast<const ConcatExpr&>(e).items)
        append_str(s, eval(*item, frame), rt_.budget);
      rt_.budget.bytes(s.size());
      return Value::string(std::move(s));
    }
    case Expr::Kind::Cond: {
      const auto& node = static_cast<const CondExpr&>(e);
      if (truthy(eval(*node.test, frame))) return eval(*node.then, frame);
      if (node.otherwise) return eval(*node.otherwise, frame);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.pos.line) +
                              " evaluated to false and no else section was defined.");
    }
  }
  fail("unknown expression");
}

}  // namespace moe::jinja
