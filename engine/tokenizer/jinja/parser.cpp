// jinja2's recursive-descent parser (parser.py), method for method: template data, {{ }}, and the tags
// (statements) with their bodies and assignment targets. Expressions are in parse_expression.cpp.
#include "tokenizer/jinja/parser.h"

#include "tokenizer/jinja/parser_impl.h"

namespace moe::jinja {

Body Parser::subparse(std::initializer_list<std::string_view> end_tokens) {
  DepthGuard guard(*this);
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.type == Tok::Data) {
      body.push_back(std::make_unique<OutputStmt>(pos(), t.text));
      next();
    } else if (t.type == Tok::VarBegin) {
      const Pos p = pos();
      next();
      auto e = parse_tuple(true, {}, false);
      expect(Tok::VarEnd, "end of print statement");
      body.push_back(std::make_unique<PrintStmt>(p, std::move(e)));
    } else if (t.type == Tok::BlockBegin) {
      next();
      if (cur().type == Tok::Name)
        for (std::string_view e : end_tokens)
          if (cur().text == e) return body;
      body.push_back(parse_statement(end_tokens));
      expect(Tok::BlockEnd, "end of statement block");
    } else if (t.type == Tok::Eof) {
      if (end_tokens.size()) fail_eof(end_tokens);
      return body;
    } else {
      error("unexpected '" + describe(t) + "'");
    }
  }
}

std::string Parser::join_tags(std::initializer_list<std::string_view> tags) const {
  std::string s;
  size_t k = 0;
  for (std::string_view t : tags) {
    if (k++) s += " or ";
    s += "'" + std::string(t) + "'";
  }
  return s;
}

[[noreturn]] void Parser::fail_eof(std::initializer_list<std::string_view> end_tokens) {
  std::string msg =
      "Unexpected end of template. Jinja was looking for the following tags: " + join_tags(end_tokens) + ".";
  if (!tag_stack_.empty())
    msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
  error(msg);
}

[[noreturn]] void Parser::fail_unknown_tag(const std::string& name,
                                           std::initializer_list<std::string_view> end_tokens) {
  std::string msg = "Encountered unknown tag '" + name + "'.";
  if (end_tokens.size()) msg += " Jinja was looking for the following tags: " + join_tags(end_tokens) + ".";
  if (!tag_stack_.empty())
    msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
  error(msg);
}

// The body of a tag up to one of `end_tokens`; leaves the stream at the end tag's name.
Body Parser::parse_statements(std::initializer_list<std::string_view> end_tokens, bool drop_needle) {
  skip_op(":");
  expect(Tok::BlockEnd, "end of statement block");
  Body body = subparse(end_tokens);
  if (cur().type == Tok::Eof) fail_eof(end_tokens);
  if (drop_needle) next();
  return body;
}

StmtPtr Parser::parse_statement(std::initializer_list<std::string_view> end_tokens) {
  if (cur().type != Tok::Name) error("tag name expected");
  const std::string tag = cur().text;
  static constexpr std::string_view kLoading[] = {"extends", "include", "import", "from", "block"};
  for (std::string_view l : kLoading)
    if (tag == l)
      error("'" + tag + "' is not supported: a chat template cannot load other templates or define blocks");
  tag_stack_.push_back(tag);
  StmtPtr s;
  if (tag == "for")
    s = parse_for();
  else if (tag == "if")
    s = parse_if();
  else if (tag == "set")
    s = parse_set();
  else if (tag == "macro")
    s = parse_macro();
  else if (tag == "call")
    s = parse_call_block();
  else if (tag == "filter")
    s = parse_filter_block();
  else if (tag == "with")
    s = parse_with();
  else if (tag == "print")
    s = parse_print();
  else if (tag == "generation")
    s = parse_generation();
  else if (tag == "break" || tag == "continue")
    s = parse_loop_control(tag);
  else {
    tag_stack_.pop_back();
    fail_unknown_tag(tag, end_tokens);
  }
  tag_stack_.pop_back();
  return s;
}

StmtPtr Parser::parse_loop_control(const std::string& tag) {
  const Pos p = pos();
  if (loop_depth_ == 0) error("'" + tag + "' outside loop");
  next();
  return std::make_unique<Stmt>(tag == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, p);
}

StmtPtr Parser::parse_for() {
  auto node = std::make_unique<ForStmt>(pos());
  next();
  node->target = parse_assign_target(true, false, {"in"});
  if (!skip_name("in")) error("expected token 'in', got '" + describe(cur()) + "'");
  node->iter = parse_tuple(false, {"recursive"}, false);
  const bool soft = soft_;
  soft_ = false;
  if (skip_name("if")) node->filter = parse_expression(true);
  node->recursive = skip_name("recursive");
  ++loop_depth_;
  node->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  const bool has_else = cur().text == "else";
  next();
  if (has_else) node->otherwise = parse_statements({"endfor"}, true);
  soft_ = soft;
  return node;
}

StmtPtr Parser::parse_if() {
  auto node = std::make_unique<IfStmt>(pos());
  next();
  const bool soft = soft_;
  soft_ = true;
  while (true) {
    ExprPtr test = parse_tuple(false, {}, false);
    Body body = parse_statements({"elif", "else", "endif"}, false);
    node->branches.emplace_back(std::move(test), std::move(body));
    const std::string which = cur().text;
    next();
    if (which == "elif") continue;
    if (which == "else") node->otherwise = parse_statements({"endif"}, true);
    break;
  }
  soft_ = soft;
  return node;
}

AssignTarget Parser::parse_set_target() {
  AssignTarget t;
  if (cur().type == Tok::Name && look().type == Tok::Op && look().text == ".") {
    t.ns_name = expect_name();
    next();  // the dot
    t.ns_attr = expect_name();
  } else {
    t.names = parse_assign_target(true, false, {});
  }
  return t;
}

StmtPtr Parser::parse_set() {
  const Pos p = pos();
  next();
  AssignTarget target = parse_set_target();
  if (skip_op("=")) {
    auto node = std::make_unique<SetStmt>(p);
    node->target = std::move(target);
    node->value = parse_tuple(true, {}, false);
    return node;
  }
  auto node = std::make_unique<SetBlockStmt>(p);
  node->target = std::move(target);
  const bool soft = soft_;
  soft_ = false;
  if (is_op("|")) node->filter = parse_filter(nullptr, false);
  node->body = parse_statements({"endset"}, true);
  soft_ = soft;
  return node;
}

void Parser::parse_signature(MacroStmt& m) {
  expect_op("(");
  while (!is_op(")")) {
    if (!m.params.empty()) expect_op(",");
    if (cur().type != Tok::Name) error("expected token 'name', got '" + describe(cur()) + "'");
    m.params.push_back(expect_name());
    if (skip_op("=")) {
      m.defaults.push_back(parse_expression(true));
    } else if (!m.defaults.empty()) {
      error("non-default argument follows default argument");
    }
  }
  expect_op(")");
}

// Macro bodies are new scopes: loop controls and soft frames stop at them.
Body Parser::parse_macro_body(MacroStmt& m, std::string_view end) {
  const int loops = loop_depth_;
  const bool soft = soft_;
  loop_depth_ = 0;
  soft_ = false;
  macros_.push_back(&m);
  Body body = parse_statements({end}, true);
  macros_.pop_back();
  loop_depth_ = loops;
  soft_ = soft;
  return body;
}

StmtPtr Parser::parse_macro() {
  auto node = std::make_unique<MacroStmt>(pos());
  next();
  node->name = expect_name();
  parse_signature(*node);
  node->body = parse_macro_body(*node, "endmacro");
  return node;
}

StmtPtr Parser::parse_call_block() {
  auto node = std::make_unique<CallBlockStmt>(pos());
  next();
  node->body = std::make_unique<MacroStmt>(node->pos);
  node->body->name = "caller";
  if (is_op("(")) parse_signature(*node->body);
  node->call = parse_expression(true);
  if (node->call->kind != Expr::Kind::Call) error(node->pos, "expected call");
  node->body->body = parse_macro_body(*node->body, "endcall");
  return node;
}

StmtPtr Parser::parse_filter_block() {
  auto node = std::make_unique<FilterBlockStmt>(pos());
  next();
  const bool soft = soft_;
  soft_ = false;
  node->filter = parse_filter(nullptr, true);
  node->body = parse_statements({"endfilter"}, true);
  soft_ = soft;
  return node;
}

StmtPtr Parser::parse_with() {
  auto node = std::make_unique<WithStmt>(pos());
  next();
  const bool soft = soft_;
  soft_ = false;
  while (cur().type != Tok::BlockEnd) {
    if (!node->assignments.empty()) expect_op(",");
    ExprPtr target = parse_assign_target(true, false, {});
    expect_op("=");
    node->assignments.emplace_back(std::move(target), parse_expression(true));
  }
  node->body = parse_statements({"endwith"}, true);
  soft_ = soft;
  return node;
}

StmtPtr Parser::parse_print() {
  const Pos p = pos();
  next();
  auto seq = std::make_unique<SeqExpr>(Expr::Kind::Tuple, p);
  while (cur().type != Tok::BlockEnd) {
    if (!seq->items.empty()) expect_op(",");
    seq->items.push_back(parse_expression(true));
  }
  // {% print a, b %} prints each expression in turn.
  auto concat = std::make_unique<ConcatExpr>(p);
  concat->items = std::move(seq->items);
  return std::make_unique<PrintStmt>(p, finish_seq(std::move(concat), concat->items));
}

StmtPtr Parser::parse_generation() {
  auto node = std::make_unique<ScopeStmt>(pos());
  next();
  node->body = parse_statements({"endgeneration"}, true);
  return node;
}

ExprPtr Parser::parse_assign_target(bool with_tuple, bool name_only,
                                    std::initializer_list<std::string_view> extra_end) {
  const Pos p = pos();
  ExprPtr target;
  if (name_only) {
    target = std::make_unique<NameExpr>(p, expect_name());
  } else if (with_tuple) {
    target = parse_tuple_simplified(extra_end);
  } else {
    target = parse_primary();
  }
  check_assignable(*target);
  return target;
}

void Parser::check_assignable(const Expr& e) {
  if (e.kind == Expr::Kind::Name) {
    const auto& n = static_cast<const NameExpr&>(e).name;
    if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
      error(e.pos, "can't assign to 'const'");
    return;
  }
  if (e.kind == Expr::Kind::Tuple) {
    for (const auto& item : static_cast<const SeqExpr&>(e).items)
      check_assignable(*item);
    return;
  }
  static const char* kNames[] = {"const",   "name",    "list",   "tuple",   "dict", "getattr",
                                 "getitem", "slice",   "call",   "filter",  "test", "unary",
                                 "binary",  "compare", "concat", "condexpr"};
  error(e.pos, std::string("can't assign to '") + kNames[int(e.kind)] + "'");
}

Template parse(const Source& source, const std::vector<Token>& tokens) {
  return Parser(source, tokens).parse_template();
}

}  // namespace moe::jinja
