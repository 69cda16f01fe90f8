"""Templates made only of text and plain paths skip the general engine; they must render
exactly as the engine renders them (which the conformance tests tie to handlebars.js)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrator.mapping import templates
from integrator.mapping.templates import render

KEYS = st.sampled_from(["id", "name", "a", "b", "0", "1", "length", "$x", "_y"])
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    # Lone surrogates cannot reach a template: no JSON body (orjson refuses them) carries one.
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
CONTEXTS = st.dictionaries(KEYS.filter(lambda k: not k.isdigit()), VALUES, max_size=4)
PATHS = st.lists(KEYS, min_size=1, max_size=3).filter(lambda p: not p[0].isdigit()).map(".".join)
TAGS = st.tuples(PATHS, st.booleans(), st.sampled_from(["", " "])).map(
    lambda t: ("{{{" + t[2] + t[0] + t[2] + "}}}") if t[1] else ("{{" + t[2] + t[0] + t[2] + "}}")
)
TEXT = st.text(alphabet="ab /?=&<>\"'\n", max_size=6)
TEMPLATES = st.lists(st.tuples(TEXT, TAGS), min_size=1, max_size=4).map(
    lambda pieces: "".join(text + tag for text, tag in pieces)
)


def engine_render(template: str, context: dict[str, Any], mode: templates.Mode) -> str:
    program = templates.engine.compile_template(template)
    escape = templates._ESCAPERS[mode]
    return str(
        templates.engine.render_program(
            program,
            context,
            data=None,
            helpers=templates.HELPERS,
            partials={},
            escape_html=escape,  # type: ignore[arg-type]
            strict=False,
        )
    )


@settings(max_examples=300, deadline=None)
@given(template=TEMPLATES, context=CONTEXTS, mode=st.sampled_from(["uri", "body", "plain"]))
def test_plain_path_templates_render_as_the_engine_does(
    template: str, context: dict[str, Any], mode: templates.Mode
) -> None:
    assert templates._simple_parts(template) is not None, template
    assert render(template, context, mode) == engine_render(template, context, mode)


@pytest.mark.parametrize(
    "template",
    [
        "{{#if a}}x{{/if}}",
        "{{timestamp}}",
        "{{this}}",
        "{{../a}}",
        "{{@index}}",
        "{{~a}}",
        "{{!comment}}",
        "\\\\{{a}}",
        "{{true}}",
        "{{1}}",
        "{{a b}}",
        "{{{a}}",
        "{{&a}}",
        "{{a.[b c]}}",
        "{{lookup a b}}",
    ],
)
def test_anything_but_plain_paths_goes_to_the_engine(template: str) -> None:
    assert templates._simple_parts(template) is None


def test_simple_templates_still_resolve_helpers_with_arguments_through_the_engine() -> None:
    assert render("{{toUpperCase name}}", {"name": "ab"}) == "AB"
    assert render("{{name}}", {"name": "ab"}) == "ab"
