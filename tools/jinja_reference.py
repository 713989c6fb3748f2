#!/usr/bin/env python3
"""Renders a chat template with Python's jinja2 configured as transformers configures it, as the outside
reference for MoE Studio's template interpreter (tests/engine/test_parity_templates.cpp).

Input: a JSON file {"template": "...", "contexts": [{...}, ...]}, or a list of such requests.
Output (stdout, ASCII JSON): a list with one entry per context, {"output": "..."} or {"error": "..."}
(for a list of requests, a list of such lists). A template that does not compile gives an error entry for
every context.

The environment mirrors transformers' _compile_jinja_template (chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]), the
raise_exception and strftime_now globals, and tojson as json.dumps without HTML escaping or key sorting.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def make_environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_all(env, request):
    try:
        template = env.from_string(request["template"])
    except Exception as e:  # a syntax error: every render fails
        return [{"error": f"{type(e).__name__}: {e}"} for _ in request["contexts"]]
    results = []
    for context in request["contexts"]:
        try:
            results.append({"output": template.render(**context)})
        except Exception as e:
            results.append({"error": f"{type(e).__name__}: {e}"})
    return results


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: jinja_reference.py INPUT.json")
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    env = make_environment()
    if isinstance(request, list):
        results = [render_all(env, r) for r in request]
    else:
        results = render_all(env, request)
    sys.stdout.write(json.dumps(results, ensure_ascii=True))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
