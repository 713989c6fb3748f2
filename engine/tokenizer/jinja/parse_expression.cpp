// Expressions: jinja2's parse_expression and everything below it (parser.py). Precedence, loosest first:
// conditional `a if c else b`, or, and, not, comparisons (== != < <= > >= in, not in), + -, ~, * / // %,
// ** (left-associative, as in jinja2), unary - +, then postfix (.attr [item] (call)) and filters/tests.
#include <algorithm>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/parser_impl.h"

namespace moe::jinja {

ExprPtr Parser::parse_expression(bool with_condexpr) {
  DepthGuard guard(*this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
  Pos p = pos();
  const size_t unknown_before = unknown_.size();
  ExprPtr expr1 = parse_or();
  while (skip_name("if")) {
    unknown_.resize(unknown_before);  // the branch just parsed is inside the conditional: soft after all
    const bool soft = soft_;
    soft_ = true;
    auto node = std::make_unique<CondExpr>(p);
    node->test = parse_or();
    node->then = std::move(expr1);
    if (skip_name("else")) node->otherwise = parse_condexpr();
    soft_ = soft;
    expr1 = finish(std::move(node), {node->test.get(), node->then.get(), node->otherwise.get()});
    p = pos();
  }
  return expr1;
}

ExprPtr Parser::parse_or() {
  Pos p = pos();
  ExprPtr left = parse_and();
  while (skip_name("or")) {
    ExprPtr right = parse_and();
    auto node = std::make_unique<BinaryExpr>(p, BinaryOp::Or, std::move(left), std::move(right));
    left = finish(std::move(node), {node->left.get(), node->right.get()});
    p = pos();
  }
  return left;
}

ExprPtr Parser::parse_and() {
  Pos p = pos();
  ExprPtr left = parse_not();
  while (skip_name("and")) {
    ExprPtr right = parse_not();
    auto node = std::make_unique<BinaryExpr>(p, BinaryOp::And, std::move(left), std::move(right));
    left = finish(std::move(node), {node->left.get(), node->right.get()});
    p = pos();
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    const Pos p = pos();
    next();
    DepthGuard guard(*this);
    auto node = std::make_unique<UnaryExpr>(p, UnaryOp::Not, parse_not());
    return finish(std::move(node), {node->operand.get()});
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Pos p = pos();
  ExprPtr expr = parse_math1();
  std::unique_ptr<CompareExpr> node;
  while (true) {
    CompareOp op;
    if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                  cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
      const std::string& t = cur().text;
      op = t == "=="   ? CompareOp::Eq
           : t == "!=" ? CompareOp::Ne
           : t == "<"  ? CompareOp::Lt
           : t == "<=" ? CompareOp::Le
           : t == ">"  ? CompareOp::Gt
                       : CompareOp::Ge;
      next();
    } else if (skip_name("in")) {
      op = CompareOp::In;
    } else if (is_name("not") && look().type == Tok::Name && look().text == "in") {
      next();
      next();
      op = CompareOp::NotIn;
    } else {
      break;
    }
    if (!node) node = std::make_unique<CompareExpr>(p, std::move(expr));
    node->rest.emplace_back(op, parse_math1());
  }
  if (!node) return expr;
  int d = node->first->depth;
  for (const auto& [op, e] : node->rest)
    d = std::max(d, e->depth);
  set_depth(*node, d);
  return node;
}

ExprPtr Parser::parse_binary_level(ExprPtr (Parser::*operand)(),
                                   std::initializer_list<std::pair<const char*, BinaryOp>> ops) {
  Pos p = pos();
  ExprPtr left = (this->*operand)();
  while (true) {
    const BinaryOp* op = nullptr;
    for (const auto& [text, o] : ops)
      if (is_op(text)) op = &o;
    if (!op) break;
    const BinaryOp o = *op;
    next();
    ExprPtr right = (this->*operand)();
    auto node = std::make_unique<BinaryExpr>(p, o, std::move(left), std::move(right));
    left = finish(std::move(node), {node->left.get(), node->right.get()});
    p = pos();
  }
  return left;
}

ExprPtr Parser::parse_math1() {
  return parse_binary_level(&Parser::parse_concat, {{"+", BinaryOp::Add}, {"-", BinaryOp::Sub}});
}

ExprPtr Parser::parse_concat() {
  const Pos p = pos();
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto node = std::make_unique<ConcatExpr>(p);
  node->items.push_back(std::move(first));
  while (skip_op("~"))
    node->items.push_back(parse_math2());
  return finish_seq(std::move(node), node->items);
}

ExprPtr Parser::parse_math2() {
  return parse_binary_level(
      &Parser::parse_pow,
      {{"*", BinaryOp::Mul}, {"/", BinaryOp::Div}, {"//", BinaryOp::FloorDiv}, {"%", BinaryOp::Mod}});
}

ExprPtr Parser::parse_pow() {
  return parse_binary_level(&Parser::parse_unary_filtered, {{"**", BinaryOp::Pow}});
}

ExprPtr Parser::parse_unary_filtered() {
  return parse_unary(true);
}

ExprPtr Parser::parse_unary(bool with_filter) {
  const Pos p = pos();
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    const UnaryOp op = is_op("-") ? UnaryOp::Neg : UnaryOp::Pos;
    next();
    DepthGuard guard(*this);
    auto u = std::make_unique<UnaryExpr>(p, op, parse_unary(false));
    node = finish(std::move(u), {u->operand.get()});
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  const Pos p = pos();
  switch (t.type) {
    case Tok::Name: {
      ExprPtr node;
      if (t.text == "true" || t.text == "True")
        node = std::make_unique<ConstExpr>(p, Value::boolean(true));
      else if (t.text == "false" || t.text == "False")
        node = std::make_unique<ConstExpr>(p, Value::boolean(false));
      else if (t.text == "none" || t.text == "None")
        node = std::make_unique<ConstExpr>(p, Value::none());
      else
        node = make_name(p, t.text);
      next();
      return node;
    }
    case Tok::String: {
      std::string s;
      while (cur().type == Tok::String) {
        s += cur().text;
        next();
      }
      return std::make_unique<ConstExpr>(p, Value::string(std::move(s)));
    }
    case Tok::Integer: {
      auto node = std::make_unique<ConstExpr>(p, Value::integer(t.int_value));
      next();
      return node;
    }
    case Tok::Float: {
      auto node = std::make_unique<ConstExpr>(p, Value::number(t.float_value));
      next();
      return node;
    }
    case Tok::Op:
      if (t.text == "(") {
        next();
        ExprPtr node = parse_tuple(true, {}, true);
        expect_op(")");
        return node;
      }
      if (t.text == "[") return parse_list();
      if (t.text == "{") return parse_dict();
      break;
    default:
      break;
  }
  error("unexpected '" + describe(t) + "'");
}

ExprPtr Parser::make_name(Pos p, const std::string& name) {
  if (!macros_.empty()) {
    MacroStmt* m = macros_.back();
    if (name == "caller") m->uses_caller = true;
    if (name == "varargs") m->uses_varargs = true;
    if (name == "kwargs") m->uses_kwargs = true;
  }
  return std::make_unique<NameExpr>(p, name);
}

bool Parser::is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
  if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")")) return true;
  for (std::string_view e : extra_end)
    if (is_name(e)) return true;
  return false;
}

// Expressions separated by commas become a tuple; `explicit_parens` allows the empty tuple `()`.
ExprPtr Parser::parse_tuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                            bool explicit_parens) {
  DepthGuard guard(*this);
  const Pos p = pos();
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    args.push_back(parse_expression(with_condexpr));
    if (is_op(","))
      is_tuple = true;
    else
      break;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) error("Expected an expression, got '" + describe(cur()) + "'");
  }
  auto node = std::make_unique<SeqExpr>(Expr::Kind::Tuple, p);
  node->items = std::move(args);
  return finish_seq(std::move(node), node->items);
}

// Assignment targets: names and tuples of them (`for a, b in ...`), parsed with parse_primary.
ExprPtr Parser::parse_tuple_simplified(std::initializer_list<std::string_view> extra_end) {
  DepthGuard guard(*this);
  const Pos p = pos();
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    args.push_back(parse_primary());
    if (is_op(","))
      is_tuple = true;
    else
      break;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    error("Expected an expression, got '" + describe(cur()) + "'");
  }
  auto node = std::make_unique<SeqExpr>(Expr::Kind::Tuple, p);
  node->items = std::move(args);
  return finish_seq(std::move(node), node->items);
}

ExprPtr Parser::parse_list() {
  auto node = std::make_unique<SeqExpr>(Expr::Kind::List, pos());
  expect_op("[");
  while (!is_op("]")) {
    if (!node->items.empty()) expect_op(",");
    if (is_op("]")) break;
    node->items.push_back(parse_expression(true));
  }
  expect_op("]");
  return finish_seq(std::move(node), node->items);
}

ExprPtr Parser::parse_dict() {
  auto node = std::make_unique<DictExpr>(pos());
  expect_op("{");
  int d = 0;
  while (!is_op("}")) {
    if (!node->items.empty()) expect_op(",");
    if (is_op("}")) break;
    ExprPtr key = parse_expression(true);
    expect_op(":");
    ExprPtr value = parse_expression(true);
    d = std::max({d, key->depth, value->depth});
    node->items.emplace_back(std::move(key), std::move(value));
  }
  expect_op("}");
  set_depth(*node, d);
  return node;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("["))
      node = parse_subscript(std::move(node));
    else if (is_op("("))
      node = parse_call(std::move(node));
    else
      return node;
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|"))
      node = parse_filter(std::move(node), false);
    else if (is_name("is"))
      node = parse_test(std::move(node));
    else if (is_op("("))
      node = parse_call(std::move(node));
    else
      return node;
  }
}

// Postfix nodes take the position where their whole expression starts (`messages[0].content`).
ExprPtr Parser::parse_subscript(ExprPtr node) {
  const Pos p = node->pos;
  if (skip_op(".")) {
    const Token& attr = cur();
    if (attr.type == Tok::Name) {
      auto g = std::make_unique<GetAttrExpr>(p, std::move(node), attr.text);
      next();
      return finish(std::move(g), {g->object.get()});
    }
    if (attr.type != Tok::Integer) error("expected name or number");
    auto index = std::make_unique<ConstExpr>(pos(), Value::integer(attr.int_value));
    next();
    auto g = std::make_unique<GetItemExpr>(p, std::move(node), std::move(index));
    return finish(std::move(g), {g->object.get(), g->index.get()});
  }
  expect_op("[");
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  ExprPtr index;
  if (args.size() == 1) {
    index = std::move(args[0]);
  } else {
    auto t = std::make_unique<SeqExpr>(Expr::Kind::Tuple, p);
    t->items = std::move(args);
    index = finish_seq(std::move(t), t->items);
  }
  auto g = std::make_unique<GetItemExpr>(p, std::move(node), std::move(index));
  return finish(std::move(g), {g->object.get(), g->index.get()});
}

ExprPtr Parser::parse_subscribed() {
  const Pos p = pos();
  ExprPtr start;
  if (is_op(":")) {
    next();
  } else {
    start = parse_expression(true);
    if (!is_op(":")) return start;
    next();
  }
  auto slice = std::make_unique<SliceExpr>(p);
  slice->start = std::move(start);
  if (!is_op(":") && !is_op("]") && !is_op(",")) slice->stop = parse_expression(true);
  if (skip_op(":")) {
    if (!is_op("]") && !is_op(",")) slice->step = parse_expression(true);
  }
  return finish(std::move(slice), {slice->start.get(), slice->stop.get(), slice->step.get()});
}

Arguments Parser::parse_call_args() {
  const Pos p = pos();
  expect_op("(");
  Arguments a;
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) error(p, "invalid syntax for function call expression");
  };
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*")) {
      ensure(!a.star_args && !a.star_kwargs);
      next();
      a.star_args = parse_expression(true);
    } else if (is_op("**")) {
      ensure(!a.star_kwargs);
      next();
      a.star_kwargs = parse_expression(true);
    } else if (cur().type == Tok::Name && look().type == Tok::Op && look().text == "=") {
      ensure(!a.star_kwargs);
      std::string key = cur().text;
      next();
      next();
      a.keywords.emplace_back(std::move(key), parse_expression(true));
    } else {
      ensure(!a.star_args && !a.star_kwargs && a.keywords.empty());
      a.positional.push_back(parse_expression(true));
    }
    require_comma = true;
  }
  expect_op(")");
  return a;
}

ExprPtr Parser::parse_call(ExprPtr node) {
  const Pos p = node->pos;
  auto call = std::make_unique<CallExpr>(p, std::move(node));
  call->args = parse_call_args();
  set_depth(*call, std::max(call->callee->depth, args_depth(call->args)));
  return call;
}

std::string Parser::parse_dotted_name() {
  std::string name = expect_name();
  while (skip_op("."))
    name += "." + expect_name();
  return name;
}

// `|name(args)` repeatedly; with `start_inline` the first filter has no leading pipe ({% filter %}).
ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    const Pos p = pos();
    std::string name = parse_dotted_name();
    auto f = std::make_unique<FilterExpr>(p, std::move(node), name);
    if (is_op("(")) f->args = parse_call_args();
    if (!filter_exists(name)) {
      if (!soft_) unknown_.emplace_back(p, "No filter named '" + name + "'.");
      f->known = false;
    }
    set_depth(*f, std::max(f->input ? f->input->depth : 0, args_depth(f->args)));
    node = std::move(f);
    start_inline = false;
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  const Pos p = pos();
  next();  // "is"
  const bool negated = skip_name("not");
  std::string name = parse_dotted_name();
  auto t = std::make_unique<TestExpr>(p, std::move(node), name);
  if (is_op("(")) {
    t->args = parse_call_args();
  } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Integer ||
              cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error("You cannot chain multiple tests with is");
    ExprPtr arg = parse_postfix(parse_primary());
    t->args.positional.push_back(std::move(arg));
  }
  if (!test_exists(name)) {
    if (!soft_) unknown_.emplace_back(p, "No test named '" + name + "'.");
    t->known = false;
  }
  set_depth(*t, std::max(t->input->depth, args_depth(t->args)));
  if (!negated) return t;
  auto n = std::make_unique<UnaryExpr>(p, UnaryOp::Not, std::move(t));
  return finish(std::move(n), {n->operand.get()});
}

}  // namespace moe::jinja
