// The syntax tree the parser builds and the interpreter walks: expressions (jinja2's nodes.Expr) and
// statements (template data, {{ }}, and the tags). Nodes own their children; a parsed template is
// immutable and may be rendered from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/source.h"
#include "tokenizer/jinja/value.h"

namespace moe::jinja {

// ---- expressions

struct Expr {
  enum class Kind : uint8_t {
    Const,
    Name,
    List,
    Tuple,
    Dict,
    GetAttr,
    GetItem,
    Slice,
    Call,
    Filter,
    Test,
    Unary,
    Binary,
    Compare,
    Concat,
    Cond,
  };
  Expr(Kind k, Pos p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  Kind kind;
  Pos pos;
  int depth = 1;  // of the subtree; the parser caps it so that evaluation stays within the stack
};
using ExprPtr = std::unique_ptr<Expr>;

struct ConstExpr : Expr {
  ConstExpr(Pos p, Value v) : Expr(Kind::Const, p), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(Pos p, std::string n) : Expr(Kind::Name, p), name(std::move(n)) {}
  std::string name;
};

struct SeqExpr : Expr {  // list or tuple literal (also assignment targets `a, b`)
  SeqExpr(Kind k, Pos p) : Expr(k, p) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(Pos p) : Expr(Kind::Dict, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct GetAttrExpr : Expr {  // obj.name
  GetAttrExpr(Pos p, ExprPtr o, std::string a)
      : Expr(Kind::GetAttr, p), object(std::move(o)), attr(std::move(a)) {}
  ExprPtr object;
  std::string attr;
};

struct GetItemExpr : Expr {  // obj[index], obj.0; index may be a SliceExpr
  GetItemExpr(Pos p, ExprPtr o, ExprPtr i)
      : Expr(Kind::GetItem, p), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;
};

struct SliceExpr : Expr {  // start:stop:step, each optional
  explicit SliceExpr(Pos p) : Expr(Kind::Slice, p) {}
  ExprPtr start, stop, step;
};

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
};

struct CallExpr : Expr {
  CallExpr(Pos p, ExprPtr c) : Expr(Kind::Call, p), callee(std::move(c)) {}
  ExprPtr callee;
  Arguments args;
};

struct FilterExpr : Expr {  // input|name(args); input is null in {% filter %} and {% set x | f %}
  FilterExpr(Pos p, ExprPtr in, std::string n)
      : Expr(Kind::Filter, p), input(std::move(in)), name(std::move(n)) {}
  ExprPtr input;
  std::string name;
  Arguments args;
  bool known = true;  // false: no such filter, an error only if evaluated (jinja2's "soft" frames)
};

struct TestExpr : Expr {  // input is name(args)
  TestExpr(Pos p, ExprPtr in, std::string n)
      : Expr(Kind::Test, p), input(std::move(in)), name(std::move(n)) {}
  ExprPtr input;
  std::string name;
  Arguments args;
  bool known = true;
};

enum class UnaryOp : uint8_t { Neg, Pos, Not };

struct UnaryExpr : Expr {
  UnaryExpr(Pos p, UnaryOp o, ExprPtr e) : Expr(Kind::Unary, p), op(o), operand(std::move(e)) {}
  UnaryOp op;
  ExprPtr operand;
};

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, And, Or };

struct BinaryExpr : Expr {
  BinaryExpr(Pos p, BinaryOp o, ExprPtr l, ExprPtr r)
      : Expr(Kind::Binary, p), op(o), left(std::move(l)), right(std::move(r)) {}
  BinaryOp op;
  ExprPtr left, right;
};

enum class CompareOp : uint8_t { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct CompareExpr : Expr {  // first op1 e1 op2 e2 ...: chained like Python's
  CompareExpr(Pos p, ExprPtr f) : Expr(Kind::Compare, p), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

struct ConcatExpr : Expr {  // a ~ b ~ c
  explicit ConcatExpr(Pos p) : Expr(Kind::Concat, p) {}
  std::vector<ExprPtr> items;
};

struct CondExpr : Expr {  // then if test else otherwise
  CondExpr(Pos p) : Expr(Kind::Cond, p) {}
  ExprPtr test, then, otherwise;  // otherwise may be null (undefined)
};

// ---- statements

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind : uint8_t {
    Output,
    Print,
    If,
    For,
    Set,
    SetBlock,
    Macro,
    CallBlock,
    FilterBlock,
    With,
    Break,
    Continue,
    Scope,
  };
  Stmt(Kind k, Pos p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
  Kind kind;
  Pos pos;
};

struct OutputStmt : Stmt {  // template data
  OutputStmt(Pos p, std::string t) : Stmt(Kind::Output, p), text(std::move(t)) {}
  std::string text;
};

struct PrintStmt : Stmt {  // {{ expr }}
  PrintStmt(Pos p, ExprPtr e) : Stmt(Kind::Print, p), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(Pos p) : Stmt(Kind::If, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body otherwise;
};

struct ForStmt : Stmt {
  explicit ForStmt(Pos p) : Stmt(Kind::For, p) {}
  ExprPtr target;  // NameExpr or tuple of names
  ExprPtr iter;
  ExprPtr filter;  // `if` condition, may be null
  Body body;
  Body otherwise;
  bool recursive = false;
};

// Where {% set %} stores: names (a tuple unpacks), or a namespace attribute `ns.attr`.
struct AssignTarget {
  ExprPtr names;
  std::string ns_name, ns_attr;
};

struct SetStmt : Stmt {
  explicit SetStmt(Pos p) : Stmt(Kind::Set, p) {}
  AssignTarget target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {  // {% set x | filter %}...{% endset %}
  explicit SetBlockStmt(Pos p) : Stmt(Kind::SetBlock, p) {}
  AssignTarget target;
  ExprPtr filter;  // a FilterExpr chain whose innermost input is null, or null
  Body body;
};

struct MacroStmt : Stmt {  // also the body of {% call %} (the `caller`)
  explicit MacroStmt(Pos p) : Stmt(Kind::Macro, p) {}
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
};

struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(Pos p) : Stmt(Kind::CallBlock, p) {}
  ExprPtr call;                     // a CallExpr
  std::unique_ptr<MacroStmt> body;  // becomes `caller`
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(Pos p) : Stmt(Kind::FilterBlock, p) {}
  ExprPtr filter;
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(Pos p) : Stmt(Kind::With, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> assignments;
  Body body;
};

struct ScopeStmt : Stmt {  // transformers' {% generation %}: renders its body
  explicit ScopeStmt(Pos p) : Stmt(Kind::Scope, p) {}
  Body body;
};

struct Template {
  Body body;
};

}  // namespace moe::jinja
