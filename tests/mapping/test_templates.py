"""render() and template_context(): the modes, the context integrator.io templates read, and the
helpers, with expectations written by hand (many are the examples of Celigo's helper reference).
How closely the core language follows handlebars.js is test_handlebars_conformance.py's job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrator.mapping import helpers, templates
from integrator.mapping.templates import TemplateError, render, template_context

RECORD = {
    "id": 42,
    "name": 'Jane "JD" <Doe> & Co\\\n',
    "orderDate": "2025-03-26T12:34:56Z",
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B 2", "qty": 1}],
}


# --- modes ---------------------------------------------------------------------------------


def test_uri_mode_encodes_double_brace_values_as_a_uri_component() -> None:
    out = render("/search?q={{record.name}}&id={{record.id}}", {"record": RECORD}, mode="uri")
    assert out == "/search?q=Jane%20%22JD%22%20%3CDoe%3E%20%26%20Co%5C%0A&id=42"


def test_uri_mode_leaves_triple_brace_values_raw() -> None:
    context = {"path": "a/b?c=d", "token": "x y"}
    assert render("/{{{path}}}&t={{token}}", context, mode="uri") == "/a/b?c=d&t=x%20y"


def test_uri_mode_encodes_what_a_helper_prints_too() -> None:
    out = render("since={{dateFormat 'YYYY-MM-DD HH:mm' d}}", {"d": "2024-01-02T03:04:00Z"}, "uri")
    assert out == "since=2024-01-02%2003%3A04"


def test_body_mode_escapes_values_as_json_string_content() -> None:
    template = '{"name": "{{record.name}}", "id": {{record.id}}, "tab": "{{tab}}"}'
    out = render(template, {"record": RECORD, "tab": "\t\x01"}, mode="body")
    assert json.loads(out) == {"name": RECORD["name"], "id": 42, "tab": "\t\x01"}


def test_body_mode_leaves_triple_brace_values_raw_for_json_fragments() -> None:
    out = render('{"items": {{{jsonSerialize record.items}}}}', {"record": RECORD}, mode="body")
    assert json.loads(out) == {"items": RECORD["items"]}


#: Any text a record may hold, lone surrogates aside (they are not valid UTF-8 or JSON text).
any_text = st.text(st.characters(exclude_categories=["Cs"]))


@given(any_text)
def test_uri_mode_output_decodes_back_to_the_value(value: str) -> None:
    out = render("{{v}}", {"v": value}, mode="uri")
    assert unquote(out) == value
    assert all(char.isascii() and char not in "&=?/#+ " for char in out)


@given(any_text)
def test_body_mode_output_is_always_valid_json_holding_the_value(value: str) -> None:
    assert json.loads(render('{"v": "{{v}}"}', {"v": value}, mode="body")) == {"v": value}


def test_plain_mode_escapes_html_as_handlebars_js_does() -> None:
    assert render("{{v}}|{{{v}}}", {"v": "<a href='x'>&`=\"</a>"}) == (
        "&lt;a href&#x3D;&#x27;x&#x27;&gt;&amp;&#x60;&#x3D;&quot;&lt;/a&gt;|<a href='x'>&`=\"</a>"
    )


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        render("{{a}}", {}, mode="html")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["uri", "body", "plain"])
def test_missing_fields_render_empty_in_every_mode(mode: templates.Mode) -> None:
    assert render("[{{record.nope.deeper}}|{{{nope}}}|{{nope.[0]}}]", {}, mode) == "[||]"


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (1.0, "1"),
        (1.5, "1.5"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (12345678901234567890, "12345678901234567890"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        ([1, None, True, [2.5, "x"]], "1,,true,2.5,x"),
        ({"a": 1}, "[object Object]"),
    ],
)
def test_values_print_as_javascript_prints_them(value: Any, printed: str) -> None:
    assert render("{{v}}", {"v": value}) == printed


def test_afe_1_paths_with_numeric_segments_read_array_items() -> None:
    assert render("/orders/{{{data.0.id}}}", {"data": [{"id": "SO-7"}]}) == "/orders/SO-7"


def test_length_reads_arrays_and_strings_as_in_javascript() -> None:
    context = {"items": [1, 2, 3], "phone": "5550100", "emoji": "😀"}
    assert render("{{items.length}} {{phone.length}} {{emoji.length}}", context) == "3 7 2"
    assert render("{{#compare phone.length '===' 7}}ok{{/compare}}", context) == "ok"


def test_each_over_an_object_visits_index_like_keys_first_as_javascript_does() -> None:
    context = {"o": {"b": 1, "10": 2, "2": 3, "01": 4}}
    assert render("{{#each o}}{{@key}} {{/each}}", context) == "2 10 b 01 "


def test_each_exposes_index_first_last_and_parent_context() -> None:
    template = (
        "{{#each record.items}}{{@index}}:{{sku}}x{{qty}}@{{../record.id}}"
        "{{#unless @last}},{{/unless}}{{/each}}"
    )
    assert render(template, {"record": RECORD}) == "0:A-1x2@42,1:B 2x1@42"


def test_standalone_block_lines_leave_no_blank_lines() -> None:
    template = "[\n{{#each items~}}\n  {{this}}\n{{~/each}}\n]\n{{#if x}}\nyes\n{{/if}}\n"
    assert render(template, {"items": [1, 2], "x": True}) == "[\n12]\nyes\n"


def test_raw_blocks_print_handlebars_syntax_verbatim() -> None:
    assert render("{{{{raw}}}}{{record.id}}{{{{/raw}}}} \\{{x}}", {}) == "{{record.id}} {{x}}"


def test_text_without_tags_is_returned_as_is() -> None:
    assert render("/v1/customers?limit=10&a=<b>", {}, mode="uri") == "/v1/customers?limit=10&a=<b>"


def test_templates_are_compiled_once_and_cached() -> None:
    template = "{{record.id}}-cache-test"
    before = templates._compile.cache_info()
    for mode in ("uri", "body", "plain", "uri"):
        render(template, {"record": RECORD}, mode)  # type: ignore[arg-type]
    after = templates._compile.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 3


@pytest.mark.parametrize(
    "template", ["{{#if a}}x", "{{/each}}", "{{/}}", "{{a b=}}", "{{#each}}{{/each}}"]
)
def test_a_template_that_does_not_parse_raises_template_error(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {"a": 1})


def test_an_unknown_helper_raises_template_error() -> None:
    with pytest.raises(TemplateError, match="nosuchhelper"):
        render("{{nosuchhelper a}}", {"a": 1})


# --- template_context ----------------------------------------------------------------------


def test_template_context_names_the_record_as_record_and_data_and_keeps_bare_fields() -> None:
    context = template_context(RECORD, settings={"region": "eu"}, connection={"name": "Shop"})
    out = render(
        "{{record.id}} {{data.id}} {{id}} {{settings.region}} {{connection.name}}", context
    )
    assert out == "42 42 42 eu Shop"


def test_template_context_only_holds_the_names_it_was_given() -> None:
    assert template_context({"a": 1}) == {
        "a": 1,
        "record": {"a": 1},
        "data": {"a": 1},
        "settings": {},
    }


def test_template_context_names_win_over_record_fields_of_the_same_name() -> None:
    context = template_context({"settings": "from record", "job": 1}, settings={"s": 1})
    assert context["settings"] == {"s": 1}
    assert context["job"] == 1  # no job given: the record's field stays


def test_template_context_hands_export_datetimes_over_as_iso_utc_with_milliseconds() -> None:
    eastern = timezone(timedelta(hours=-5))
    context = template_context(
        last_export_date_time=datetime(2024, 1, 31, 4, 30, tzinfo=eastern),
        current_export_date_time=datetime(2024, 2, 1, 0, 0, 0, 123456),
    )
    assert context["lastExportDateTime"] == "2024-01-31T09:30:00.000Z"
    assert context["currentExportDateTime"] == "2024-02-01T00:00:00.123Z"
    assert (
        template_context(last_export_date_time="2024-01-01")["lastExportDateTime"] == "2024-01-01"
    )


def test_a_delta_export_uri_embeds_the_cutoff_url_encoded() -> None:
    context = template_context(last_export_date_time=datetime(2024, 1, 31, 9, 30, tzinfo=UTC))
    template = (
        "/orders?updated_at_min={{lastExportDateTime}}"
        "&day={{{dateFormat 'YYYY-MM-DD' lastExportDateTime}}}"
    )
    assert render(template, context, "uri") == (
        "/orders?updated_at_min=2024-01-31T09%3A30%3A00.000Z&day=2024-01-31"
    )


def test_paging_templates_read_export_paging_and_the_previous_page() -> None:
    context = template_context(
        export={"http": {"paging": {"page": 3, "skip": 40}}},
        previous_page={"full_response": {"next": {"cursor": "c+1/2"}}, "last_record": {"id": 9}},
    )
    template = (
        "/items?page={{export.http.paging.page}}"
        "&after={{previous_page.full_response.next.cursor}}"
        "&last={{previous_page.last_record.id}}"
    )
    assert render(template, context, "uri") == "/items?page=3&after=c%2B1%2F2&last=9"


# --- date helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{dateFormat "MM-DD-YYYY hh:mm A" d}}', "03-26-2025 12:34 PM"),
        ('{{dateFormat "YYYY-MM-DD [at] HH:mm" d}}', "2025-03-26 at 12:34"),
        ('{{dateFormat "YYYY-MM-DD HH:mm Z" d "" "America/New_York"}}', "2025-03-26 08:34 -04:00"),
        ('{{dateFormat "YYYY-MM-DD HH:mm" d "America/New_York"}}', "2025-03-26 08:34"),
        ('{{dateFormat "YYYY-MM-DD" us "MM/DD/YYYY"}}', "2025-12-31"),
        ('{{dateFormat "x" us "MM/DD/YYYY" "Asia/Tokyo"}}', "1767106800000"),
        ('{{dateFormat "YYYY-MM-DDTHH:mm:ss" ms}}', "2020-01-01T00:00:00"),
        ('{{dateFormat "" d}}', "2025-03-26T12:34:56+00:00"),
        ('{{dateFormat "YYYY" missing}}', ""),
        ('{{dateFormat "YYYY" "not a date"}}', "Invalid date"),
    ],
)
def test_date_format_takes_the_output_format_first(template: str, expected: str) -> None:
    context = {"d": "2025-03-26T12:34:56Z", "us": "12/31/2025", "ms": 1577836800000}
    assert render(template, context) == expected


def test_date_format_with_an_unknown_timezone_is_an_error() -> None:
    with pytest.raises(TemplateError, match="Mars/Olympus"):
        render('{{dateFormat "YYYY" d "" "Mars/Olympus"}}', {"d": "2025-03-26"})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{dateAdd d "86400000"}}', "2025-03-27T12:34:56.000Z"),
        ("{{dateAdd d -3600000}}", "2025-03-26T11:34:56.000Z"),
        ("{{dateAdd d}}", "2025-03-26T12:34:56.000Z"),
        ('{{dateAdd local 0 "Europe/Paris"}}', "2025-03-26T11:00:00.000Z"),
        ('{{dateAdd d "soon"}}', ""),
        ("{{dateAdd missing 1000}}", ""),
    ],
)
def test_date_add_adds_milliseconds_and_prints_iso_utc(template: str, expected: str) -> None:
    context = {"d": "2025-03-26T12:34:56Z", "local": "2025-03-26T12:00:00"}
    assert render(template, context) == expected


def test_timestamp_prints_now_in_the_format_and_timezone_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(helpers, "utc_now", lambda: datetime(2025, 4, 20, 17, 38, 20, tzinfo=UTC))
    out = render(
        '{{timestamp}}|{{timestamp "YYYY-MM-DD HH:mm:ss"}}|{{timestamp "HH:mm" "Asia/Tokyo"}}', {}
    )
    assert out == "2025-04-20T17:38:20+00:00|2025-04-20 17:38:20|02:38"
    assert render("export-{{timestamp 'YYYYMMDDHHmmss'}}.csv", {}) == "export-20250420173820.csv"


# --- other helpers -------------------------------------------------------------------------


def test_json_serialize_prints_javascript_json_and_json_parse_reads_it() -> None:
    context = {"v": {"b": [1.0, None, "é\n"], "2": True}, "text": '{"shard": {"id": 7}}'}
    assert render("{{{jsonSerialize v}}}", context) == '{"2":true,"b":[1,null,"é\\n"]}'
    assert render("{{{jsonSerialize missing}}}", context) == "null"
    assert render("{{#with (jsonParse text)}}{{shard.id}}{{/with}}", context) == "7"
    with pytest.raises(TemplateError, match="jsonParse"):
        render("{{jsonParse 'nope'}}", {})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{base64Decode str}}", "Hello World!!"),
        ('{{base64Decode str "ascii"}}', "Hello World!!"),
        ('{{base64Decode str "hex"}}', "48656c6c6f20576f726c642121"),
        ("{{base64Decode null}}", ""),
        ("{{{base64Encode 'Hello World!!'}}}", "SGVsbG8gV29ybGQhIQ=="),
        ("{{{base64Encode '48656c6c6f' 'hex'}}}", "SGVsbG8="),
        ("{{{base64Encode (join ':' 'user' 'pass')}}}", "dXNlcjpwYXNz"),
    ],
)
def test_base64_helpers_follow_celigos_examples(template: str, expected: str) -> None:
    assert render(template, {"str": "SGVsbG8gV29ybGQhIQ==", "null": None}) == expected


def test_hash_and_hmac_give_the_standard_digests() -> None:
    assert render('{{hash "sha256" "hex" "HelloWorld"}}', {}) == (
        "872e4e50ce9990d8b041330c47c9ddd11bec6b503ae9386a99da8584e9bb12c4"
    )
    assert render("{{{hash 'md5' 'base64' ''}}}", {}) == "1B2M2Y8AsgTpgAmY7PhCfg=="
    # RFC 4231, test case 2
    context = {"key": "Jefe", "data": "what do ya want for nothing?"}
    assert render('{{hmac "sha256" key "hex" data}}', context) == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert render('{{hmac "sha256" "SmVmZQ==" "hex" data "base64"}}', context) == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_hash_refuses_a_key_and_unknown_algorithms() -> None:
    with pytest.raises(TemplateError, match="hmac"):
        render('{{hash "sha256" key "hex" data}}', {"key": "k", "data": "d"})
    with pytest.raises(TemplateError, match="nope"):
        render('{{hash "nope" "hex" "x"}}', {})


@pytest.mark.parametrize(
    ("left", "operator", "right", "result"),
    [
        ("9", ">", "10", True),  # strings compare as strings
        (9, ">", "10", False),  # a number makes it numeric
        ("1", "==", 1, True),
        ("1", "===", 1, False),
        (1, "!==", 1.0, False),
        (None, "==", 0, False),
        (True, "==", 1, True),
        ([1, 2], "==", "1,2", True),
        ("abc", "<", 1, False),
        ("abc", ">=", 1, False),
        (None, "<=", 0, True),
        (5, "typeof", "number", True),
        ("5", "typeof", "number", False),
        (None, "typeof", "object", True),
    ],
)
def test_compare_uses_javascript_comparisons(
    left: Any, operator: str, right: Any, result: bool
) -> None:
    template = "{{#compare left op right}}T{{else}}F{{/compare}}"
    expected = "T" if result else "F"
    assert render(template, {"left": left, "op": operator, "right": right}) == expected


def test_compare_with_two_values_is_strict_equality_and_inline_gives_a_boolean() -> None:
    assert (
        render("{{#compare a b}}same{{else}}different{{/compare}}", {"a": 1, "b": "1"})
        == "different"
    )
    assert render('{{compare a "<" b}}', {"a": 1, "b": 2}) == "true"


def test_compare_with_an_unknown_operator_is_an_error() -> None:
    with pytest.raises(TemplateError, match="=~"):
        render('{{#compare a "=~" b}}x{{/compare}}', {"a": 1, "b": 2})


def test_lookup_uses_a_static_lookup_by_name_and_otherwise_reads_a_property() -> None:
    states = {"Texas": "TX"}
    lookups = {"stateAbbreviation": lambda value: states.get(value)}
    context = {"record": {"state": "Texas", "tags": ["a", "b"]}, "lookup": {"dyn": "D"}}
    template = '{{lookup "stateAbbreviation" record.state}}|{{lookup record.tags 1}}|{{lookup.dyn}}'
    assert render(template, context, lookups=lookups) == "TX|b|D"
    assert render('{{lookup "stateAbbreviation" record.state}}', context) == ""


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{toUpperCase 'library'}}|{{uppercase 'straße'}}", "LIBRARY|STRASSE"),
        ("{{toLowerCase 'HERE WE GO!'}}|{{lowercase 'ÀB'}}", "here we go!|àb"),
        ("[{{trim ' \u00a0Lalo Schifrin\t\n'}}]", "[Lalo Schifrin]"),
        ("{{replace 'these & those & more' '&' 'and'}}", "these and those and more"),
        ("{{{replace 'a.b' '.' '$&$&'}}}|{{replace 'abc' '' '-'}}", "a$&$&b|abc"),
        (
            "{{split 'Hillary-Ann-Swank' '-' 1}}|{{split 'a,b' ','}}|[{{split 'a,b' ',' 5}}]",
            "Ann|a|[]",
        ),
        ("{{split url '?id=' 1}}", "42"),
        (
            "{{join '/' 'root' 'images' 'logo.png'}}|{{join ',' list 'z'}}",
            "root/images/logo.png|x,,1,z",
        ),
        ("{{{encodeURI 'overseas order flow/é?a=1#x'}}}", "overseas%20order%20flow/%C3%A9?a=1#x"),
        (
            "{{{decodeURI 'overseas%20order%20flow%2F'}}}|{{{decodeURI '%E0%A4%A'}}}",
            "overseas order flow%2F|%E0%A4%A",
        ),
        ("{{toUpperCase (split 'jane doe' ' ' 0)}}", "JANE"),
    ],
)
def test_string_helpers(template: str, expected: str) -> None:
    assert render(template, {"url": "https://x.io/a?id=42", "list": ["x", None, 1]}) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{add item1 item2 item3}}", "144"),
        ('{{add "2" "5" "2"}}', "9"),
        ('{{add item1 "2" "3" item3}}', "138"),
        ("{{add 0.1 0.2}}", "0.30000000000000004"),
        ("{{add 'two' 1}}", "NaN"),
        ("{{subtract 6 3}}|{{subtract item2 0.5}}", "3|10.5"),
        ('{{multiply 3 "19.99"}}', "59.97"),
        (
            '{{divide "2002" "100"}}|{{divide 1 0}}|{{divide -1 0}}|{{divide 0 0}}',
            "20.02|Infinity|-Infinity|NaN",
        ),
        ('{{round "29.77"}}|{{round 2.5}}|{{round -2.5}}|{{round (divide 10 4)}}', "30|3|-2|3"),
    ],
)
def test_number_helpers_follow_celigos_examples(template: str, expected: str) -> None:
    assert render(template, {"item1": "33", "item2": "11", "item3": "100"}) == expected


def test_the_builtin_block_helpers_are_there() -> None:
    template = (
        "{{#if a}}A{{/if}}{{#unless b}}B{{/unless}}{{#with c}}{{d}}{{/with}}"
        "{{#each e}}{{this}}{{/each}}"
    )
    assert render(template, {"a": 1, "b": 0, "c": {"d": "D"}, "e": [1, 2]}) == "ABD12"
