"""``render(..., mode="plain")`` prints what handlebars.js 4.7.8 prints, checked against the real
thing: node renders the same templates with the same contexts (hypothesis makes them: text with
markup and quotes, numbers, booleans, nulls, nested objects and arrays).

One node process per hypothesis example renders a whole batch of cases. The integrator.io
helpers whose meaning is unambiguous (strings, numbers, encodings, digests, ``compare``) are
registered in node too, written the way a JavaScript implementation of our signatures would be;
date helpers and static lookups have hand-written expectations in test_templates.py.

Without node or the npm package (``make install`` puts it in ``.venv/npm``) these tests skip,
except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from integrator.mapping.templates import render

NODE_SCRIPT = r"""
const Handlebars = require(process.argv[2]);
const crypto = require('crypto');

// integrator.io registers `raw`, so {{{{raw}}}}…{{{{/raw}}}} prints its body as it stands.
const core = Handlebars.create();
core.registerHelper('raw', (options) => options.fn());

const helpers = Handlebars.create();
helpers.registerHelper('raw', (options) => options.fn());
const text = (v) => (v == null ? '' : String(v));
const num = (v) => (v == null ? 0 : Number(v));
// Helpers get handlebars' options last; these take only the template's arguments.
const positional = (fn) => function () {
  return fn(...Array.prototype.slice.call(arguments, 0, -1));
};
const simple = {
  toUpperCase: (s) => text(s).toUpperCase(),
  toLowerCase: (s) => text(s).toLowerCase(),
  uppercase: (s) => text(s).toUpperCase(),
  lowercase: (s) => text(s).toLowerCase(),
  trim: (s) => text(s).trim(),
  replace: (s, f, r) => (text(f) ? text(s).split(text(f)).join(text(r)) : text(s)),
  split: (s, d, i) => {
    const parts = text(d) ? text(s).split(text(d)) : Array.from(text(s));
    const n = num(i);
    return Number.isInteger(n) && n >= 0 && n < parts.length ? parts[n] : '';
  },
  join: (d, ...values) => values.flat(Infinity).map(text).join(text(d)),
  add: (...values) => values.reduce((total, v) => total + num(v), 0),
  subtract: (a, b) => num(a) - num(b),
  multiply: (a, b) => num(a) * num(b),
  divide: (a, b) => num(a) / num(b),
  round: (a) => Math.round(num(a)),
  encodeURI: (s) => encodeURI(text(s)),
  decodeURI: (s) => { try { return decodeURI(text(s)); } catch (e) { return text(s); } },
  jsonSerialize: (v) => (v === undefined ? 'null' : JSON.stringify(v)),
  base64Encode: (s, f) => Buffer.from(text(s), text(f) || 'utf8').toString('base64'),
  base64Decode: (s, f) => (
    s == null ? '' : Buffer.from(text(s), 'base64').toString(text(f) || 'utf8')),
  hash: (alg, enc, data) => crypto
    .createHash(text(alg)).update(text(data)).digest(text(enc) || 'hex'),
  hmac: (alg, key, enc, data, keyEnc) => crypto
    .createHmac(text(alg), Buffer.from(text(key), text(keyEnc) || 'utf8'))
    .update(text(data)).digest(text(enc) || 'hex'),
};
for (const [name, fn] of Object.entries(simple)) helpers.registerHelper(name, positional(fn));
const operators = {
  '==': (l, r) => l == r, '===': (l, r) => l === r, '!=': (l, r) => l != r,
  '!==': (l, r) => l !== r, '<': (l, r) => l < r, '>': (l, r) => l > r,
  '<=': (l, r) => l <= r, '>=': (l, r) => l >= r, 'typeof': (l, r) => typeof l == r,
};
helpers.registerHelper('compare', function (left, operator, right, options) {
  if (options === undefined) { options = right; right = operator; operator = '==='; }
  return operators[operator](left, right) ? options.fn(this) : options.inverse(this);
});

let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const results = JSON.parse(input).map((c) => {
    try {
      return { ok: (c.helpers ? helpers : core).compile(c.template)(c.context) };
    } catch (e) {
      return { error: String(e.message || e) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
"""


def _handlebars_package() -> Path | None:
    for root in (Path(sys.prefix), Path(__file__).resolve().parents[2] / ".venv"):
        package = root / "npm" / "node_modules" / "handlebars"
        if (package / "package.json").exists():
            return package
    return None


Renderer = Callable[[list[dict[str, Any]]], list[dict[str, str]]]


@pytest.fixture(scope="module")
def handlebars_js(tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    """Render cases ``{template, context, helpers}`` with handlebars.js: one node run per call."""
    node, package = shutil.which("node"), _handlebars_package()
    if node is None or package is None:
        message = "node and the handlebars npm package are needed (make install)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    script = tmp_path_factory.mktemp("handlebars") / "render.js"
    script.write_text(NODE_SCRIPT)

    def run(cases: list[dict[str, Any]]) -> list[dict[str, str]]:
        done = subprocess.run(
            [node, str(script), str(package)],
            input=json.dumps(cases),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        results: list[dict[str, str]] = json.loads(done.stdout)
        return results

    return run


def _ours(template: str, context: Any) -> dict[str, str]:
    try:
        return {"ok": render(template, context, mode="plain")}
    except ValueError as exc:
        return {"error": str(exc)}


def assert_same_as_handlebars_js(
    run: Renderer, templates: list[str], contexts: list[Any], helpers: bool = False
) -> None:
    cases = [
        {"template": template, "context": context, "helpers": helpers}
        for context in contexts
        for template in templates
    ]
    expected = run(cases)
    for case, theirs in zip(cases, expected, strict=True):
        ours = _ours(case["template"], case["context"])
        if "error" in theirs or "error" in ours:  # both fail; the messages differ
            assert "error" in theirs and "error" in ours, (case, theirs, ours)
        else:
            assert ours == theirs, (case["template"], case["context"])


# --- values hypothesis makes ---------------------------------------------------------------

#: Markup, quotes, whitespace JavaScript and Python disagree on, case-mapping specials, CJK and
#: an astral emoji; no lone surrogates (JSON cannot carry them to node intact).
ALPHABET = (
    "abcXYZ019 _-.,:;/?#[]@!$&'()*+=<>\"`\\{}|~^%\n\t\r\x00\x1f\x7f"
    "\xa0\u2028\ufeff\x1c\u3000éßİ\u0131Σ\u03c3ςǅﬁ中文😀"
)
texts = st.text(alphabet=ALPHABET, max_size=12)
numbers = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 1.5, -0.0, 1e21, 1e-7, 123456789012345680000.0, 5e-324, 1e16]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
keys = st.one_of(
    st.text(alphabet="abcdefxyz_0123456789", min_size=1, max_size=4),
    st.sampled_from(["2", "10", "01", "-1", "4294967295", "length", "id"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=10,
)
#: Text that JavaScript's Number() reads in interesting ways, and some that it cannot read.
numeric_texts = st.one_of(
    st.sampled_from(
        [
            " 12 ",
            "0x1A",
            "0b11",
            "0o17",
            "1e3",
            "-0",
            "",
            "abc",
            "9",
            "10",
            "1_0",
            "Infinity",
            "-Infinity",
            "infinity",
            ".5",
            "5.",
            ".",
            "+3",
            "00017",
            "1e400",
            "\xa05\ufeff",
            "\x1c5",
        ]
    ),
    numbers.map(repr),
)
operands = st.one_of(scalars, numeric_texts, st.lists(st.one_of(numbers, texts), max_size=2))

core_context = st.fixed_dictionaries(
    {
        "name": texts,
        "n": numbers,
        "flag": scalars,
        "first name": texts,
        "items": st.lists(
            st.fixed_dictionaries(
                {"id": scalars, "label": texts, "tags": st.lists(scalars, max_size=3)}
            ),
            max_size=4,
        ),
        "obj": st.dictionaries(keys, scalars, max_size=5),
        "nested": st.fixed_dictionaries({"a": st.fixed_dictionaries({"b": scalars})}),
        "value": json_values,
    }
)

BATCH = st.lists(core_context, min_size=10, max_size=10)
# No shrinking: a failure names the one template and context that differ, and shrinking a
# batch would start hundreds of node processes.
conformance = settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the core language ---------------------------------------------------------------------


@conformance
@given(BATCH)
def test_paths_raw_output_and_html_escaping_print_as_handlebars_js(
    handlebars_js: Renderer, contexts: list[Any]
) -> None:
    templates = [
        "{{name}}|{{{name}}}|{{&name}}|{{n}}|{{flag}}|{{value}}|{{{value}}}|{{missing}}",
        "{{nested.a.b}}|{{nested.missing.b}}|{{this.name}}|{{./n}}|{{nested/a/b}}",
        "{{[first name]}}|{{items.[0].label}}|{{items.0.id}}|{{obj.[2]}}|{{obj.length}}",
        "{{items.length}}|{{name.length}}|{{value.length}}|{{@root.name}}",
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts)


@conformance
@given(BATCH)
def test_each_exposes_index_key_first_last_and_parent_like_handlebars_js(
    handlebars_js: Renderer, contexts: list[Any]
) -> None:
    templates = [
        "{{#each items}}{{@index}}:{{id}}:{{label}}{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}"
        ":{{../name}}:{{@root.n}};{{/each}}",
        "{{#each obj}}{{@key}}={{this}}{{#unless @last}},{{/unless}}{{else}}empty{{/each}}",
        "{{#each value}}[{{@index}}|{{@key}}:{{this}}]{{else}}none{{/each}}",
        "{{#each items}}{{#each tags}}{{@../index}}.{{@index}}={{.}}{{#if @last}};{{/if}}"
        "{{/each}}{{/each}}",
        "{{#each items as |item i|}}{{i}}={{item.label}} {{/each}}",
        "{{#each items}}{{lookup ../items @index}}{{/each}}",
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts)


@conformance
@given(BATCH)
def test_if_unless_with_and_lookup_decide_like_handlebars_js(
    handlebars_js: Renderer, contexts: list[Any]
) -> None:
    templates = [
        "{{#if flag}}yes{{else}}no{{/if}}{{#unless flag}}U{{else}}u{{/unless}}",
        "{{#if value}}v{{else if flag}}f{{else}}-{{/if}}{{#if value includeZero=true}}z{{/if}}",
        "{{#with nested.a}}{{b}}-{{../name}}{{/with}}{{#with value}}[{{this}}]{{else}}w{{/with}}",
        "{{#with items}}{{length}}{{/with}}{{#value}}s{{/value}}{{^value}}i{{/value}}",
        "{{lookup obj name}}|{{lookup items 0}}|{{lookup . 'name'}}|{{lookup value 'length'}}",
        "{{lookup obj '2'}}|{{lookup name 0}}|{{lookup items 'length'}}|{{lookup n 'x'}}",
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts)


@conformance
@given(BATCH)
def test_whitespace_control_comments_and_standalone_lines_like_handlebars_js(
    handlebars_js: Renderer, contexts: list[Any]
) -> None:
    templates = [
        "a {{~name~}} b\n{{#each items~}}\n  {{label}}\n{{~/each}}\n",
        "{{! a comment }}x{{!-- {{name}} --}}y  {{~! trimmed ~}}  z",
        "<ul>\n  {{#each items}}\n  <li>{{label}}</li>\n  {{/each}}\n</ul>\n",
        "{{#if flag}}\n  on\n{{else}}\n  off\n{{/if}}\n",
        "\\{{name}} {{{{raw}}}}{{name}} {{#if}}{{{{/raw}}}} \\\\{{n}}",
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts)


def test_templates_that_do_not_parse_fail_in_both(handlebars_js: Renderer) -> None:
    templates = ["{{#if a}}x", "{{/if}}", "{{#each}}{{/each}}", "{{a b=}}", "{{nothing here}}"]
    assert_same_as_handlebars_js(handlebars_js, templates, [{"a": 1}])


# --- integrator.io helpers with a JavaScript twin -------------------------------------------

helper_context = st.fixed_dictionaries(
    {
        "s": texts,
        "f": st.one_of(texts, st.sampled_from(["", ",", "a", " ", "é"])),
        "r": texts,
        "d": st.sampled_from(["", ",", "-", " ", "ab", "😀"]),
        "i": st.one_of(st.integers(-1, 5), st.sampled_from(["1", "x", 1.5, None])),
        "a": operands,
        "b": operands,
        "c": operands,
        "items": st.lists(st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=3),
        "value": json_values,
    }
)
HELPER_BATCH = st.lists(helper_context, min_size=12, max_size=12)


@conformance
@given(HELPER_BATCH)
def test_string_helpers_match_javascript(handlebars_js: Renderer, contexts: list[Any]) -> None:
    templates = [
        "{{toUpperCase s}}|{{toLowerCase s}}|{{uppercase r}}|{{lowercase r}}|{{trim s}}",
        "{{replace s f r}}|{{replace s 'a' '$&'}}|{{split s d i}}|{{split s f}}",
        "{{join d s f items}}|{{join ',' items}}|{{{join d a b}}}",
        "{{toUpperCase (trim (replace s f r))}}|{{trim a}}",
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts, helpers=True)


@conformance
@given(HELPER_BATCH)
def test_number_helpers_match_javascript(handlebars_js: Renderer, contexts: list[Any]) -> None:
    templates = [
        "{{add a b c}}|{{add a}}|{{add}}|{{subtract a b}}|{{multiply a b}}|{{divide a b}}",
        "{{round a}}|{{round (divide a b)}}|{{add 0.1 0.2}}|{{multiply 3 '19.99'}}",
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts, helpers=True)


@conformance
@given(HELPER_BATCH)
def test_encoding_and_digest_helpers_match_node(
    handlebars_js: Renderer, contexts: list[Any]
) -> None:
    templates = [
        "{{{encodeURI s}}}|{{{decodeURI s}}}|{{{decodeURI (encodeURI s)}}}|{{{decodeURI f}}}",
        "{{{jsonSerialize value}}}|{{{jsonSerialize items}}}|{{jsonSerialize s}}",
        "{{{base64Encode s}}}|{{base64Decode (base64Encode s)}}|{{{base64Encode s 'latin1'}}}",
        "{{base64Decode (base64Encode s) 'hex'}}|{{base64Decode (base64Encode s 'ucs2') 'ucs2'}}",
        "{{{base64Encode s 'hex'}}}|{{base64Decode s 'base64'}}",
        "{{hash 'sha256' 'hex' s}}|{{{hash 'md5' 'base64' a}}}|{{hash 'sha1' '' s}}",
        "{{hmac 'sha256' f 'hex' s}}|{{{hmac 'sha512' r 'base64' s}}}",
        "{{hmac 'sha256' (base64Encode f) 'hex' s 'base64'}}",
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts, helpers=True)


@conformance
@given(HELPER_BATCH)
def test_compare_follows_javascript_equality_and_ordering(
    handlebars_js: Renderer, contexts: list[Any]
) -> None:
    operators = ["==", "===", "!=", "!==", "<", "<=", ">", ">="]
    templates = [
        "".join(f"{{{{#compare a '{op}' b}}}}T{{{{else}}}}F{{{{/compare}}}}" for op in operators),
        "".join(f"{{{{#compare s '{op}' f}}}}T{{{{else}}}}F{{{{/compare}}}}" for op in operators),
        "{{#compare a b}}same{{else}}different{{/compare}}",
        "".join(
            f"{{{{#compare a 'typeof' '{kind}'}}}}{kind}{{{{/compare}}}}"
            for kind in ("number", "string", "boolean", "object")
        ),
    ]
    assert_same_as_handlebars_js(handlebars_js, templates, contexts, helpers=True)
