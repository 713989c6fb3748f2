// The chat-template interpreter against outputs written out by hand from jinja2's documented semantics
// under transformers' settings (trim_blocks, lstrip_blocks, loop controls, tojson as json.dumps): whitespace
// control, loops and loop variables, scoping and namespaces, macros, slicing, filters, tests, string
// methods, tojson byte for byte, errors with line:column, and hostile templates stopped by each limit.
#include <QtTest>
#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "moe/chat_template.h"
#include "moe/error.h"

using moe::ChatTemplate;
using nlohmann::json;

namespace {

std::string render(const std::string& source, const json& context = json::object(),
                   moe::TemplateLimits limits = {}) {
  return ChatTemplate(source, limits).render(context);
}

// The error a template raises (at parse or render time), or "" if it renders.
std::string error_of(const std::string& source, const json& context = json::object(),
                     moe::TemplateLimits limits = {}) {
  try {
    ChatTemplate(source, limits).render(context);
  } catch (const moe::Error& e) {
    return e.what();
  }
  return "";
}

const char* kConversation = R"({
  "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"}
  ],
  "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true
})";

void add(const char* name, const std::string& source, const std::string& expected,
         const char* context = "{}") {
  QTest::newRow(name) << QByteArray::fromStdString(source) << QByteArray(context)
                      << QByteArray::fromStdString(expected);
}

}  // namespace

class ChatTemplateTest : public QObject {
  Q_OBJECT

 private:
  void columns() {
    QTest::addColumn<QByteArray>("source");
    QTest::addColumn<QByteArray>("context");
    QTest::addColumn<QByteArray>("expected");
  }

  void check() {
    QFETCH(QByteArray, source);
    QFETCH(QByteArray, context);
    QFETCH(QByteArray, expected);
    std::string out;
    try {
      out = render(source.toStdString(), json::parse(context.toStdString()));
    } catch (const moe::Error& e) {
      QFAIL(e.what());
    }
    QCOMPARE(QByteArray::fromStdString(out), expected);
  }

 private slots:
  void whitespace_data() {
    columns();
    // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
    add("trim_and_lstrip", "a\n  {% if true %}\n  b\n  {% endif %}\nc", "a\n  b\nc");
    add("variables_keep_newline", "{{ 'x' }}\n{{ 'y' }}\n", "x\ny");  // one trailing newline is dropped
    add("minus_strips_all", "a  {%- if true -%}  \n b \n {%- endif -%}  c", "abc");
    add("variable_minus", "  {{- 'x' -}}  \n", "x");
    add("plus_keeps_indent", "a\n  {%+ if true %}b{% endif %}", "a\n  b");
    add("lstrip_only_at_line_start", "x {% if true %}y{% endif %}", "x y");
    add("comment_lines_vanish", "a\n  {# note #}\nb", "a\nb");
    add("comment_minus", "a \n{#- c -#}\n b", "ab");
    add("raw", "{% raw %}{{ x }}{% if %}{% endraw %}", "{{ x }}{% if %}");
    add("raw_keeps_newline_after_open", "{% raw %}\nx{% endraw %}\n", "\nx");
    add("crlf_normalised", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", "a\nb\n");
    add("for_lines", "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}",
        "  system\n  user\n  assistant\n  user\n", kConversation);
  }
  void whitespace() { check(); }

  void loops_data() {
    columns();
    add("loop_vars",
        "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 "
        "}}"
        "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
        "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|");
    add("previtem_nextitem", "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }},{% endfor %}",
        "-2,1-3,2-,");
    add("else", "{% for x in [] %}x{% else %}empty{% endfor %}", "empty");
    add("loop_filter",
        "{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role[0] }}{{ loop.last }} {% "
        "endfor %}",
        "1uFalse 2aFalse 3uTrue ", kConversation);
    add("unpacking", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;");
    add("break_continue",
        "{% for i in range(6) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif "
        "%}{{ i }}{% endfor %}",
        "023");
    add("nested_loop_shadows",
        "{% for i in [1, 2] %}{% for j in [1] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}",
        "1112");
    add("string_iterates_code_points", "{% for c in 'hé😀' %}[{{ c }}]{% endfor %}", "[h][é][😀]");
    add("dict_iterates_keys", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}", "ba");
    add("recursive",
        "{% for n in [{'c': [{'c': []}, {'c': []}]}] recursive %}({{ loop.depth }}{{ loop(n.c) }}){% endfor "
        "%}",
        "(1(2)(2))");
    add("cycle", "{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}", "aba");
  }
  void loops() { check(); }

  void scoping_data() {
    columns();
    add("set_in_loop_is_local",
        "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}", "11 11 1");
    add("set_in_if_is_not", "{% if true %}{% set y = 3 %}{% endif %}{{ y }}", "3");
    add("namespace",
        "{% set ns = namespace(n=0, s='') %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ "
        "ns.n }}",
        "6");
    add("namespace_found",
        "{% set ns = namespace(found=false) %}{% for m in messages %}{% if m.role == 'system' %}{% set "
        "ns.found = true %}"
        "{% endif %}{% endfor %}{{ ns.found }}",
        "True", kConversation);
    add("block_set", "{% set x %}a{{ 1 + 1 }}b{% endset %}[{{ x }}]", "[a2b]");
    add("block_set_filter", "{% set x | upper %}abc{% endset %}{{ x }}", "ABC");
    add("tuple_set", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}", "1two");
    add("with", "{% with a = 1 %}{{ a }}{% endwith %}[{{ a }}]", "1[]");
  }
  void scoping() { check(); }

  void macros_data() {
    columns();
    add("defaults",
        "{% macro m(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ m(b=3, a=4) }}",
        "<1B><12><43>");
    add("missing_argument_is_undefined", "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", "[]");
    add("varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}",
        "1(2,){'k': 3}");
    add("recursion", "{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(3) }}",
        "321");
    add("sees_later_globals", "{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}",
        "2");
    add("call_block", "{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}", "<in>");
  }
  void macros() { check(); }

  void expressions_data() {
    columns();
    add("literals", "{{ none }} {{ true }} {{ False }} {{ 1.0 }} {{ 0.1 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 'a' }}",
        "None True False 1.0 0.1 1e+16 1.5e-05 a");
    add("containers", "{{ [1, 'a', none] }} {{ (1,) }} {{ () }} {{ {'k': [1.5, true]} }}",
        "[1, 'a', None] (1,) () {'k': [1.5, True]}");
    add("repr_quotes", "{{ [\"it's\", 'a\\nb', '\\\\'] }}", "[\"it's\", 'a\\nb', '\\\\']");
    add("arithmetic",
        "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} "
        "{{ 1 + 2 * 3 }}",
        "3 -4 2 3.5 1024 64 0.5 7");
    add("float_formatting", "{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 1e15 }} {{ 123456789.0 }} {{ -0.0 }}",
        "0.30000000000000004 0.3333333333333333 1000000000000000.0 123456789.0 -0.0");
    add("concat", "{{ 'a' ~ 1 ~ none ~ true ~ 2.0 }}", "a1NoneTrue2.0");
    add("repeat", "{{ 'ab' * 3 }}{{ [0] * 2 }}", "ababab[0, 0]");
    add("comparisons",
        "{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ (1, 2) == [1, 2] }}",
        "True True True True False");
    add("in", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [3] }}",
        "True True True False");
    add("and_or_values", "{{ 0 or 'b' }} {{ 1 and 'c' }} {{ '' or [] }} {{ not none }}", "b c [] True");
    add("ternary", "{{ 'y' if 1 else 'n' }}{{ 'y' if 0 else 'n' }}[{{ 'y' if 0 }}]", "yn[]");
    add("attribute_and_item",
        "{{ messages[1].content }}{{ messages[1]['role'] }}{{ messages.1.content }}{{ messages[-1].content "
        "}}",
        "HiuserHiBye", kConversation);
    add("missing_is_empty", "[{{ nothing }}][{{ messages[0].nothing }}][{{ messages[99] }}]", "[][][]",
        kConversation);
    add("slicing",
        "{{ [1, 2, 3][::-1] }} {{ [1, 2, 3][1:] }} {{ 'hello'[1:-1] }} {{ 'hello'[::2] }} {{ [1, 2][5:] }}",
        "[3, 2, 1] [2, 3] ell hlo []");
    add("code_points", "{{ 'héllo😀'|length }} {{ 'héllo😀'[-1] }} {{ '😀ab'[1:] }} {{ 'añb'.find('b') }}",
        "6 😀 ab 2");
    add("unicode_case", "{{ 'ÉCOLE'|lower }} {{ 'straße'|upper }}", "école STRASSE");
  }
  void expressions() { check(); }

  void filters_data() {
    columns();
    add("trim", "[{{ '  a  '|trim }}][{{ 'xxaxx'|trim('x') }}]", "[a][a]");
    add("case", "{{ 'aB'|upper }}{{ 'aB'|lower }} {{ 'hello wORLD-x'|title }} {{ 'hELLO'|capitalize }}",
        "ABab Hello World-X Hello");
    add("replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }}", "bbb bba");
    add("join_first_last",
        "{{ [1, 2, 3]|join(', ') }} {{ [1, 2]|first }} {{ [1, 2]|last }} {{ 'abc'|first }}", "1, 2, 3 1 2 a");
    add("default",
        "{{ nothing|default('d') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ nothing|d(1) }}",
        "d  e 1");
    add("length_count", "{{ [1, 2]|length }} {{ 'hé'|length }} {{ {'a': 1}|count }}", "2 2 1");
    add("list_string", "{{ 'ab'|list }} {{ 5|string ~ 1 }}", "['a', 'b'] 51");
    add("int_float",
        "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '3.5'|float }} {{ 3|float }}",
        "42 4 0 7 3.5 3.0");
    add("abs_round",
        "{{ -3|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 42.55|round(1, 'floor') }} {{ 5|round }}",
        "3 2.0 4.0 42.5 5");
    add("items_dictsort", "{{ {'b': 1, 'a': 2}|items|list }} {{ {'b': 1, 'A': 2}|dictsort }}",
        "[('b', 1), ('a', 2)] [('A', 2), ('b', 1)]");
    add("selectattr",
        "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join('+') }}", "Hi+Bye",
        kConversation);
    add("rejectattr", "{{ messages|rejectattr('role', 'in', ['user', 'system'])|list|length }}", "1",
        kConversation);
    add("select_reject",
        "{{ [0, 1, 2, 3]|select|list }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3]|reject('>', "
        "1)|list }}",
        "[1, 2, 3] [1, 3] [1]");
    add("map_filter", "{{ ['a', 'b']|map('upper')|join }}", "AB");
    add("unique_sort_reverse",
        "{{ ['b', 'A', 'a']|unique|list }} {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ "
        "[1, 2]|reverse|list }}",
        "['b', 'A'] ['A', 'b', 'c'] [3, 2, 1] [2, 1]");
    add("sum_min_max", "{{ [1, 2, 3]|sum }} {{ [3, 1]|min }} {{ ['b', 'A']|max }}", "6 1 b");
    add("indent", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}", "a\n  b\n\n  c|  a\n  b");
    add("batch_wordcount", "{{ [1, 2, 3]|batch(2)|list }} {{ 'one two  three'|wordcount }}",
        "[[1, 2], [3]] 3");
    add("format", "{{ '%s-%03d'|format('a', 7) }} {{ '%.2f' % 3.14159 }}", "a-007 3.14");
    add("safe_escape", "{{ '<b>'|safe }} {{ '<b>&'|e }}", "<b> &lt;b&gt;&amp;");
  }
  void filters() { check(); }

  void tests_and_methods_data() {
    columns();
    add("type_tests",
        "{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ 'a' is string }}{{ {} is mapping }}{{ none "
        "is none }}"
        "{{ true is boolean }}{{ [] is sequence }}{{ 1 is iterable }}",
        "TrueTrueTrueTrueTrueTrueTrueTrueFalse");
    add("value_tests",
        "{{ true is true }}{{ 0 is false }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 1 is eq 1 "
        "}}"
        "{{ 1 is ne 1 }}{{ 2 is in [2] }}{{ 'ab' is lower }}",
        "TrueFalseTrueTrueTrueTrueFalseTrueTrue");
    add("defined", "{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ x is not none }}",
        "TrueFalseTrueTrue", R"({"x": 1})");
    add("str_methods",
        "[{{ '  a b '.strip() }}][{{ 'xxhixx'.lstrip('x') }}][{{ 'a,b,,c'.split(',') }}][{{ ' a  b '.split() "
        "}}]"
        "[{{ 'a b c'.rsplit(' ', 1) }}][{{ 'hello'.startswith('he') }}][{{ 'hello'.endswith(('x', 'lo')) }}]"
        "[{{ 'hello'.replace('l', 'L', 1) }}][{{ 'hi there'.title() }}][{{ 'hELLO'.capitalize() }}][{{ "
        "'hello'.find('l') }}]"
        "[{{ 'hello'.count('l') }}][{{ '-'.join(['a', 'b']) }}][{{ '{} {}'.format(1, 'x') }}][{{ "
        "'AB'.lower() }}]",
        "[a b][hixx][['a', 'b', '', 'c']][['a', 'b']][['a b', 'c']][True][True][heLlo][Hi "
        "There][Hello][2][2][a-b][1 x][ab]");
    add("think_split",
        "{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ "
        "c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
        "answer|reason", R"({"c": "<think>\nreason\n</think>\n\nanswer"})");
    add("dict_methods",
        "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }} {{ d.keys()|list }} {{ d.values()|list }}",
        "1 None 0 ['a'] [1]", R"({"d": {"a": 1}})");
    add("dict_items_attribute_is_method", "{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}", "items1",
        R"({"d": {"items": 1}})");
    add("range_dict_namespace",
        "{{ range(3)|list }} {{ range(1, 7, 3)|list }} {{ dict(a=1) }} {{ namespace(a=2).a }}",
        "[0, 1, 2] [1, 4] {'a': 1} 2");
  }
  void tests_and_methods() { check(); }

  // json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=False), byte for byte.
  void tojson_data() {
    columns();
    add("compact", "{{ {'a': 1, 'b': [1, 2]}|tojson }}", R"({"a": 1, "b": [1, 2]})");
    add("scalars", "{{ [1.0, none, true, false, 'x', 0.1]|tojson }}",
        R"([1.0, null, true, false, "x", 0.1])");
    add("no_html_escaping_no_ascii_escaping", "{{ 'é<>&\\'\"\\n\\t\\\\😀'|tojson }}",
        "\"é<>&'\\\"\\n\\t\\\\😀\"");
    add("control_characters", "{{ '\\x01\\x1f\\x7f'|tojson }}", "\"\\u0001\\u001f\x7f\"");
    add("ensure_ascii", "{{ 'é😀'|tojson(ensure_ascii=true) }}", R"("\u00e9\ud83d\ude00")");
    add("indent", "{{ {'a': [1, {}], 'b': []}|tojson(indent=2) }}",
        "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}");
    add("separators", "{{ {'a': [1, 2]}|tojson(separators=(',', ':')) }}", R"({"a":[1,2]})");
    add("keeps_insertion_order", "{{ {'b': 1, 'a': 2}|tojson }}", R"({"b": 1, "a": 2})");
    add("sort_keys", "{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}", R"({"a": 2, "b": 1})");
    add("non_string_keys", "{{ {1: 'a', true: 'b', none: 'c'}|tojson }}", R"({"1": "b", "null": "c"})");
    add("tuple_as_list", "{{ (1, 'a')|tojson }}", R"([1, "a"])");
    // The context arrives as nlohmann::json, whose objects keep their keys sorted: Python's dicts would keep
    // the caller's order instead.
    add("context_objects_arrive_key_sorted", "{{ tool|tojson }}",
        R"({"function": {"name": "f", "parameters": {}}, "type": "function"})",
        R"({"tool": {"type": "function", "function": {"name": "f", "parameters": {}}}})");
  }
  void tojson() { check(); }

  void real_chat_template() {
    // Qwen's ChatML template, written out.
    const std::string src =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    QCOMPARE(render(src, json::parse(kConversation)),
             std::string("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                         "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_"
                         "start|>assistant\n"));
    json no_system =
        json::parse(R"({"messages": [{"role": "user", "content": "你好"}], "add_generation_prompt": false})");
    QCOMPARE(render(src, no_system), std::string("<|im_start|>system\nYou are a helpful "
                                                 "assistant.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n"));
  }

  void raise_exception_message_and_position() {
    const std::string src =
        "{{ bos_token }}\n{% for m in messages %}\n  {% if m.role == 'system' %}{{ raise_exception('System "
        "role not supported') }}{% endif %}\n{% endfor %}";
    QCOMPARE(error_of(src, json::parse(kConversation)),
             std::string("chat_template:3:33: System role not supported"));
  }

  void errors_data() {
    QTest::addColumn<QByteArray>("source");
    QTest::addColumn<QByteArray>("expected");
    auto row = [](const char* name, const char* source, const char* expected) {
      QTest::newRow(name) << QByteArray(source) << QByteArray(expected);
    };
    // Syntax errors (raised by the constructor).
    row("unclosed_block", "a\n{% if x %}b",
        "chat_template:2:12: Unexpected end of template. Jinja was looking for the following tags: 'elif' or "
        "'else' or 'endif'. The innermost block that needs to be closed is 'if'.");
    row("wrong_end_tag", "{% if x %}\n  {% endfor %}",
        "chat_template:2:6: Encountered unknown tag 'endfor'. Jinja was looking for the following tags: "
        "'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.");
    row("unknown_tag", "{% frobnicate %}", "chat_template:1:4: Encountered unknown tag 'frobnicate'.");
    row("bad_expression", "{{ 1 + }}", "chat_template:1:8: unexpected 'end of print statement'");
    row("unbalanced", "{{ (1 }}", "chat_template:1:7: unexpected '}', expected ')'");
    row("unterminated_string", "x\n{{ 'abc }}", "chat_template:2:4: unexpected char '''");
    row("unclosed_comment", "{# never closed", "chat_template:1:1: Missing end of comment tag");
    row("unknown_filter", "{{ x|frobnicate }}", "chat_template:1:6: No filter named 'frobnicate'.");
    row("unknown_test", "{{ x is frobnicated }}", "chat_template:1:6: No test named 'frobnicated'.");
    row("break_outside_loop", "{% break %}", "chat_template:1:4: 'break' outside loop");
    row("include", "{% include 'other.jinja' %}",
        "chat_template:1:4: 'include' is not supported: a chat template cannot load other templates or "
        "define blocks");
    row("extends", "{% extends 'base' %}",
        "chat_template:1:4: 'extends' is not supported: a chat template cannot load other templates or "
        "define blocks");
    row("import", "{% import 'm' as m %}",
        "chat_template:1:4: 'import' is not supported: a chat template cannot load other templates or define "
        "blocks");
    // Runtime errors (raised by render).
    row("undefined_attribute_chain", "{{ x.y.z }}", "chat_template:1:4: 'x' is undefined");
    row("attribute_of_missing", "\n{{ m.a.b }}", "chat_template:2:4: 'dict object' has no attribute 'a'");
    row("type_error", "{{ 'a' + 1 }}", "chat_template:1:4: can only concatenate str (not \"int\") to str");
    row("division_by_zero", "{{ 1 // 0 }}", "chat_template:1:4: integer division or modulo by zero");
    row("not_callable", "{{ 1() }}", "chat_template:1:4: 'int' object is not callable");
    row("mutation_blocked", "{{ l.append(1) }}",
        "chat_template:1:4: access to attribute 'append' of 'list' object is unsafe.");
    row("bad_namespace_set", "{% set l.x = 1 %}",
        "chat_template:1:4: cannot assign attribute on non-namespace object");
    row("tojson_undefined", "{{ nothing|tojson }}",
        "chat_template:1:12: Object of type Undefined is not JSON serializable");
    row("too_many_macro_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
        "chat_template:1:34: macro 'm' takes not more than 1 argument(s)");
  }
  void errors() {
    QFETCH(QByteArray, source);
    QFETCH(QByteArray, expected);
    const json ctx = json::parse(R"({"m": {}, "l": [1]})");
    QCOMPARE(QByteArray::fromStdString(error_of(source.toStdString(), ctx)), expected);
  }

  // Hostile templates: each must stop with moe::Error naming the limit, quickly, without crashing.
  void limits_data() {
    QTest::addColumn<QByteArray>("source");
    QTest::addColumn<QByteArray>("fragment");
    auto row = [](const char* name, const std::string& source, const char* fragment) {
      QTest::newRow(name) << QByteArray::fromStdString(source) << QByteArray(fragment);
    };
    row("huge_range", "{% for i in range(10**12) %}{% endfor %}", "Range too big");
    row("huge_repeat", "{{ 'a' * 10**10 }}", "exceeds max_output_bytes");
    row("output_size", "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "max_output_bytes");
    row("doubling_string",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "max_output_bytes");
    row("quadratic_list",
        "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
        "x max_output_bytes of strings and lists");
    row("steps", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "max_steps");
    row("macro_recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "max_recursion");
    row("loop_recursion", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "max_recursion");
    row("nested_parentheses", "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}",
        "nested more than");
    row("nested_lists", "{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}", "nested more than");
    std::string chain = "{{ 1";
    for (int i = 0; i < 50000; ++i)
      chain += " + 1";
    row("long_operator_chain", chain + " }}", "nested more than");
    std::string filters = "{{ 'x'";
    for (int i = 0; i < 50000; ++i)
      filters += "|upper";
    row("long_filter_chain", filters + " }}", "nested more than");
    std::string blocks;
    for (int i = 0; i < 5000; ++i)
      blocks += "{% if true %}";
    row("nested_blocks", blocks, "nested more than");
    row("deep_data",
        "{% set ns = namespace(x=1) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}",
        "levels deep");
    row("self_referencing_namespace", "{% set ns = namespace() %}{% set ns.x = [ns] %}{{ ns }}",
        "referring to itself");
    row("replace_blowup", "{{ ('x' * 1000000)|replace('x', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}",
        "max_output_bytes");
  }
  void limits() {
    QFETCH(QByteArray, source);
    QFETCH(QByteArray, fragment);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string err = error_of(source.toStdString());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    QVERIFY2(err.rfind("chat_template:", 0) == 0, err.c_str());
    QVERIFY2(err.find(fragment.toStdString()) != std::string::npos, err.c_str());
    QVERIFY2(seconds < 1.0, qPrintable(QString("took %1 s").arg(seconds)));
  }

  void tight_limits() {
    moe::TemplateLimits limits;
    limits.max_steps = 1000;
    QVERIFY(
        error_of("{% for i in range(10000) %}{% endfor %}", json::object(), limits).find("max_steps (1000") !=
        std::string::npos);
    limits = {};
    limits.max_output_bytes = 10;
    QVERIFY(error_of("{{ 'x' * 11 }}", json::object(), limits).find("max_output_bytes") != std::string::npos);
    QCOMPARE(render("{{ 'x' * 10 }}", json::object(), limits), std::string("xxxxxxxxxx"));
    limits = {};
    limits.max_recursion = 3;
    const char* rec = "{% macro r(n) %}{% if n > 0 %}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(N) }}";
    QCOMPARE(render(rec, json{{"N", 2}}, limits), std::string());
    QVERIFY(error_of(rec, json{{"N", 5}}, limits).find("max_recursion (3)") != std::string::npos);
  }

  // Work that grows with the template (positions on one long line, scopes with many names) stays linear.
  void large_templates_stay_fast() {
    std::string one_line;
    for (int i = 0; i < 100000; ++i)
      one_line += "{{ 1 }}";
    std::string many_names;
    for (int i = 0; i < 20000; ++i)
      many_names += "{% set v" + std::to_string(i) + " = " + std::to_string(i) + " %}";
    for (int i = 0; i < 20000; ++i)
      many_names += "{{ v" + std::to_string(i) + " }}";
    for (const std::string& src : {one_line, many_names}) {
      const auto t0 = std::chrono::steady_clock::now();
      std::string out;
      try {
        out = render(src);
      } catch (const moe::Error& e) {
        out = e.what();  // a step limit is fine too; what matters is the time
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      QVERIFY2(seconds < 1.0, qPrintable(QString("took %1 s").arg(seconds)));
      QVERIFY(!out.empty());
    }
  }

  void transformers_extras() {
    // {% generation %} (transformers' AssistantTracker) renders its body; strftime_now formats the local
    // time.
    QCOMPARE(render("{% generation %}{{ 'x' }}{% endgeneration %}"), std::string("x"));
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    QCOMPARE(render("{{ strftime_now('%Y') }}"), std::to_string(1900 + local.tm_year));
  }

  // jinja2's select/map/... are generators: a failure surfaces only when the result is consumed.
  void lazy_generators() {
    QCOMPARE(render("{% if 0|select %}[{{ 0|select|list }}]{% endif %}"),
             std::string("[[]]"));  // always true
    QCOMPARE(render("{% if 5|select %}true{% endif %}"), std::string("true"));
    QVERIFY(error_of("{{ 5|select|list }}").find("'int' object is not iterable") != std::string::npos);
    QCOMPARE(render("{{ [1, 2]|select('odd')|list }}{{ [1, 2]|map('string')|list|length }}"),
             std::string("[1]2"));
  }

  void invalid_utf8_template() {
    QCOMPARE(error_of("ok\n  \xff{{ x }}"),
             std::string("chat_template:2:3: the template is not valid UTF-8"));
  }

  void render_is_repeatable_and_thread_safe() {
    ChatTemplate tpl(
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.role }}:{{ "
        "m.content }};"
        "{% endfor %}{{ ns.n }}");
    const json ctx = json::parse(kConversation);
    const std::string expected = "system:Be brief.;user:Hi;assistant:Hello!;user:Bye;4";
    QCOMPARE(tpl.render(ctx), expected);
    std::vector<std::string> outs(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i)
          outs[size_t(t)] = tpl.render(ctx);
      });
    for (auto& th : threads)
      th.join();
    for (const auto& o : outs)
      QCOMPARE(o, expected);
    ChatTemplate moved = std::move(tpl);
    QCOMPARE(moved.render(ctx), expected);
  }
};

QTEST_GUILESS_MAIN(ChatTemplateTest)
#include "test_chat_template.moc"
