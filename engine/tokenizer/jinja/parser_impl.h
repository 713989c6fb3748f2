// The parser's state and helpers, shared by parser.cpp (statements, assignment targets) and
// parse_expression.cpp (expressions, filters, tests, calls).
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/jinja/parser.h"

namespace moe::jinja {

class Parser {
 public:
  Parser(const Source& source, const std::vector<Token>& tokens) : src_(source), toks_(tokens) {}

  Template parse_template() {
    Template t;
    t.body = subparse({});
    // jinja2 parses the whole template before its compiler rejects unknown filters and tests.
    if (!unknown_.empty()) error(unknown_.front().first, unknown_.front().second);
    return t;
  }

 private:
  // ---- token stream

  const Token& cur() const { return toks_[i_]; }
  const Token& look() const { return toks_[std::min(i_ + 1, toks_.size() - 1)]; }
  void next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  Pos pos() const { return src_.pos(cur().offset); }
  Pos pos_of(const Token& t) const { return src_.pos(t.offset); }

  bool is_op(std::string_view op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(std::string_view name) const { return cur().type == Tok::Name && cur().text == name; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }

  [[noreturn]] void error(Pos p, const std::string& message) const { throw_error(p, message); }
  [[noreturn]] void error(const std::string& message) const { error(pos(), message); }

  std::string describe(const Token& t) const {
    switch (t.type) {
      case Tok::Name:
        return t.text;
      case Tok::Op:
        return t.text;
      case Tok::String:
        return "string";
      case Tok::Integer:
        return "integer";
      case Tok::Float:
        return "float";
      case Tok::Data:
        return "template data / text";
      case Tok::BlockBegin:
        return "begin of statement block";
      case Tok::BlockEnd:
        return "end of statement block";
      case Tok::VarBegin:
        return "begin of print statement";
      case Tok::VarEnd:
        return "end of print statement";
      case Tok::Eof:
        return "end of template";
    }
    return "token";
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) error("expected token '" + std::string(op) + "', got '" + describe(cur()) + "'");
  }
  void expect(Tok type, const char* what) {
    if (cur().type == Tok::Eof && type != Tok::Eof)
      error("unexpected end of template, expected '" + std::string(what) + "'");
    if (cur().type != type)
      error("expected token '" + std::string(what) + "', got '" + describe(cur()) + "'");
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) error("expected token 'name', got '" + describe(cur()) + "'");
    std::string n = cur().text;
    next();
    return n;
  }

  // ---- depth limits

  struct DepthGuard {
    DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth)
        p_.error("template nested more than " + std::to_string(kMaxParseDepth) + " levels deep");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  // Sets a node's depth from its deepest child; deeper than kMaxExprDepth is a syntax error.
  void set_depth(Expr& node, int deepest_child) {
    node.depth = deepest_child + 1;
    if (node.depth > kMaxExprDepth)
      error(node.pos, "expression nested more than " + std::to_string(kMaxExprDepth) + " levels deep");
  }
  template <class T>
  std::unique_ptr<T> finish(std::unique_ptr<T>&& node, std::initializer_list<const Expr*> children) {
    int d = 0;
    for (const Expr* c : children)
      if (c) d = std::max(d, c->depth);
    set_depth(*node, d);
    return std::move(node);
  }
  template <class T>
  std::unique_ptr<T> finish_seq(std::unique_ptr<T>&& node, const std::vector<ExprPtr>& items) {
    int d = 0;
    for (const auto& c : items)
      d = std::max(d, c->depth);
    set_depth(*node, d);
    return std::move(node);
  }
  static int args_depth(const Arguments& a) {
    int d = 0;
    for (const auto& e : a.positional)
      d = std::max(d, e->depth);
    for (const auto& [k, e] : a.keywords)
      d = std::max(d, e->depth);
    if (a.star_args) d = std::max(d, a.star_args->depth);
    if (a.star_kwargs) d = std::max(d, a.star_kwargs->depth);
    return d;
  }

  // ---- statements (parser.cpp)

  Body subparse(std::initializer_list<std::string_view> end_tokens);
  std::string join_tags(std::initializer_list<std::string_view> tags) const;
  [[noreturn]] void fail_eof(std::initializer_list<std::string_view> end_tokens);
  [[noreturn]] void fail_unknown_tag(const std::string& name,
                                     std::initializer_list<std::string_view> end_tokens);
  // The body of a tag up to one of `end_tokens`; leaves the stream at the end tag's name.
  Body parse_statements(std::initializer_list<std::string_view> end_tokens, bool drop_needle);
  StmtPtr parse_statement(std::initializer_list<std::string_view> end_tokens);
  StmtPtr parse_loop_control(const std::string& tag);
  StmtPtr parse_for();
  StmtPtr parse_if();
  AssignTarget parse_set_target();
  StmtPtr parse_set();
  void parse_signature(MacroStmt& m);
  // Macro bodies are new scopes: loop controls and soft frames stop at them.
  Body parse_macro_body(MacroStmt& m, std::string_view end);
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  StmtPtr parse_print();
  StmtPtr parse_generation();
  ExprPtr parse_assign_target(bool with_tuple, bool name_only,
                              std::initializer_list<std::string_view> extra_end);
  void check_assignable(const Expr& e);

  // ---- expressions (parse_expression.cpp)

  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_binary_level(ExprPtr (Parser::*operand)(),
                             std::initializer_list<std::pair<const char*, BinaryOp>> ops);
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary_filtered();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr make_name(Pos p, const std::string& name);
  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const;
  // Expressions separated by commas become a tuple; `explicit_parens` allows the empty tuple `()`.
  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                      bool explicit_parens);
  // Assignment targets: names and tuples of them (`for a, b in ...`), parsed with parse_primary.
  ExprPtr parse_tuple_simplified(std::initializer_list<std::string_view> extra_end);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  // Postfix nodes take the position where their whole expression starts (`messages[0].content`).
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  Arguments parse_call_args();
  ExprPtr parse_call(ExprPtr node);
  std::string parse_dotted_name();
  // `|name(args)` repeatedly; with `start_inline` the first filter has no leading pipe ({% filter %}).
  ExprPtr parse_filter(ExprPtr node, bool start_inline);
  ExprPtr parse_test(ExprPtr node);

  const Source& src_;
  const std::vector<Token>& toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool soft_ = false;  // inside {% if %} or `a if b`: unknown filters and tests fail only when evaluated
  std::vector<std::pair<Pos, std::string>> unknown_;  // unknown filters and tests outside soft frames
  std::vector<std::string> tag_stack_;
  std::vector<MacroStmt*> macros_;
};

}  // namespace moe::jinja
