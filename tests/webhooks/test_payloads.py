"""Bodies to records, and the answers a listener gives (handshakes and success)."""

from __future__ import annotations

import json

import pytest

from integrator.adaptors.webhook import BadPayload, Delivery, challenge, records, success


def delivery(
    body: bytes | str,
    content_type: str | None = "application/json",
    method: str = "POST",
    query: dict[str, list[str]] | None = None,
) -> Delivery:
    return Delivery(
        method=method,
        url="https://integrator.example.com/v1/exports/e1/data",
        headers={"content-type": content_type} if content_type else {},
        query=query or {},
        body=body.encode() if isinstance(body, str) else body,
    )


def bad(webhook: dict[str, object], request: Delivery) -> BadPayload:
    with pytest.raises(BadPayload) as caught:
        records(webhook, request)
    return caught.value


# --- JSON ----------------------------------------------------------------------------------


def test_json_object_is_one_record_and_array_is_its_elements() -> None:
    assert records({}, delivery('{"id": 1}')) == [{"id": 1}]
    assert records({}, delivery('[{"id": 1}, {"id": 2}]')) == [{"id": 1}, {"id": 2}]


def test_non_object_values_are_wrapped_as_value() -> None:
    assert records({}, delivery('[1, "a"]')) == [{"value": 1}, {"value": "a"}]
    assert records({}, delivery("true")) == [{"value": True}]


def test_path_to_records_selects_the_array_and_missing_path_gives_none() -> None:
    body = json.dumps({"data": {"items": [{"id": 1}, {"id": 2}]}, "shop": "s1"})
    assert records({"pathToRecords": "data.items"}, delivery(body)) == [{"id": 1}, {"id": 2}]
    assert records({"pathToRecords": "data"}, delivery(body)) == [{"items": [{"id": 1}, {"id": 2}]}]
    assert records({"pathToRecords": "nope.items"}, delivery(body)) == []


def test_include_parent_data_adds_the_payload_without_the_array() -> None:
    body = json.dumps({"data": {"items": [{"id": 1}], "page": 3}, "shop": "s1"})
    webhook = {"pathToRecords": "data.items", "includeParentData": True}
    assert records(webhook, delivery(body)) == [
        {"id": 1, "_PARENT": {"data": {"page": 3}, "shop": "s1"}}
    ]


def test_invalid_json_is_400_naming_the_problem() -> None:
    error = bad({}, delivery('{"id": '))
    assert (error.status, error.code) == (400, "invalid_payload")
    assert "not valid JSON" in error.message


def test_empty_body_has_no_records() -> None:
    assert records({}, delivery(b"")) == []


def test_missing_content_type_reads_json() -> None:
    assert records({}, delivery('{"a": 1}', content_type=None)) == [{"a": 1}]


def test_vendor_json_and_charset_parameters_are_understood() -> None:
    request = delivery('{"a": "é"}'.encode("latin-1"), "application/vnd.api+json; charset=latin-1")
    assert records({}, request) == [{"a": "é"}]


# --- media types ---------------------------------------------------------------------------


def test_content_type_contradicting_request_media_type_is_415() -> None:
    error = bad({"requestMediaType": "json"}, delivery("<a/>", "application/xml"))
    assert (error.status, error.code) == (415, "unsupported_media_type")


def test_text_plain_is_read_as_the_configured_type() -> None:
    # AWS SNS posts JSON with Content-Type text/plain.
    assert records({"requestMediaType": "json"}, delivery('{"a": 1}', "text/plain")) == [{"a": 1}]


def test_unknown_content_type_without_request_media_type_is_415() -> None:
    assert bad({}, delivery(b"\x00", "application/octet-stream")).status == 415
    assert bad({}, delivery("x", "multipart/form-data; boundary=x")).status == 415


# --- urlencoded, plaintext, csv ------------------------------------------------------------


def test_urlencoded_is_one_record_with_repeated_keys_as_lists() -> None:
    body = "name=Ann+Lee&tag=a&tag=b&empty=&city=K%C3%B6ln"
    assert records({}, delivery(body, "application/x-www-form-urlencoded")) == [
        {"name": "Ann Lee", "tag": ["a", "b"], "empty": "", "city": "Köln"}
    ]


def test_urlencoded_with_invalid_utf8_is_400() -> None:
    error = bad({"requestMediaType": "urlencoded"}, delivery("a=%FF%FE", None))
    assert error.status == 400


def test_plaintext_is_one_body_record() -> None:
    assert records({}, delivery("hello\nworld", "text/plain")) == [{"body": "hello\nworld"}]


def test_csv_rows_become_records_under_the_header() -> None:
    body = '\ufeffid,name\r\n1,"Lee, Ann"\r\n2,Bo\r\n3\r\n'
    assert records({}, delivery(body, "text/csv")) == [
        {"id": "1", "name": "Lee, Ann"},
        {"id": "2", "name": "Bo"},
        {"id": "3", "name": ""},
    ]


def test_csv_row_longer_than_header_is_400() -> None:
    error = bad({"requestMediaType": "csv"}, delivery("id\n1,2\n", "text/csv"))
    assert error.status == 400 and "more fields" in error.message


# --- XML -----------------------------------------------------------------------------------


def test_xml_becomes_one_record_with_attributes_text_and_lists() -> None:
    body = (
        '<?xml version="1.0"?><order id="7"><line sku="a">2</line><line>3</line>'
        "<note/><ship:to>Oslo</ship:to></order>"
    )
    assert records({}, delivery(body, "application/xml")) == [
        {
            "order": {
                "@id": "7",
                "line": [{"@sku": "a", "#text": "2"}, "3"],
                "note": None,
                "ship:to": "Oslo",
            }
        }
    ]


def test_xml_path_to_records_selects_repeated_elements() -> None:
    body = "<orders><order><id>1</id></order><order><id>2</id></order></orders>"
    webhook = {"pathToRecords": "orders.order"}
    assert records(webhook, delivery(body, "text/xml")) == [{"id": "1"}, {"id": "2"}]


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        '<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>',
        '<!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><x/>',
    ],
)
def test_xml_with_a_doctype_is_refused(body: str) -> None:
    error = bad({}, delivery(body, "application/xml"))
    assert error.status == 400 and "DOCTYPE" in error.message


def test_malformed_xml_is_400() -> None:
    assert bad({}, delivery("<a><b></a>", "application/xml")).status == 400


# --- challenge -----------------------------------------------------------------------------


def test_get_challenge_echoes_query_values() -> None:
    webhook = {
        "challengeSuccessBody": "{{[hub.challenge]}}",
        "challengeSuccessMediaType": "plaintext",
    }
    query = {"hub.mode": ["subscribe"], "hub.challenge": ["1158201444"]}
    answer = challenge(webhook, delivery(b"", None, method="GET", query=query))
    assert answer is not None
    assert (answer.status, answer.media_type, answer.body) == (200, "text/plain", b"1158201444")


def test_post_challenge_answers_only_when_the_request_carries_one() -> None:
    webhook = {
        "challengeSuccessBody": '{"challenge": "{{challenge}}"}',
        "challengeSuccessStatusCode": 201,
        "challengeResponseHeaders": [{"name": "X-Handshake", "value": "yes"}],
    }
    answer = challenge(webhook, delivery('{"challenge": "a\\"b"}'))
    assert answer is not None
    assert answer.status == 201 and answer.media_type == "application/json"
    assert json.loads(answer.body) == {"challenge": 'a"b'}
    assert answer.headers == (("X-Handshake", "yes"),)
    assert challenge(webhook, delivery('{"id": 1}')) is None


def test_get_without_challenge_config_is_not_answered() -> None:
    assert challenge({}, delivery(b"", None, method="GET")) is None
    assert challenge({}, delivery('{"challenge": "x"}')) is None


# --- success -------------------------------------------------------------------------------


def test_success_defaults_to_204_without_body() -> None:
    answer = success({"successBody": '{"ok": true}'}, delivery('{"id": 1}'))
    assert (answer.status, answer.body) == (204, b"")


def test_success_renders_the_body_against_the_payload() -> None:
    webhook = {
        "successStatusCode": 200,
        "successBody": '{"received": "{{id}}"}',
        "successResponseHeaders": [{"name": "X-Ack", "value": "1"}],
    }
    answer = success(webhook, delivery('{"id": "o-1"}'))
    assert (answer.status, answer.media_type) == (200, "application/json")
    assert json.loads(answer.body) == {"received": "o-1"}
    assert answer.headers == (("X-Ack", "1"),)


def test_success_with_xml_media_type_escapes_for_xml() -> None:
    webhook = {"successStatusCode": 202, "successBody": "<ok>{{n}}</ok>", "successMediaType": "xml"}
    answer = success(webhook, delivery('{"n": "a<b"}'))
    assert answer.media_type == "application/xml" and answer.body == b"<ok>a&lt;b</ok>"


def test_success_renders_against_empty_context_for_non_object_payloads() -> None:
    webhook = {
        "successStatusCode": 200,
        "successBody": "ok {{id}}",
        "successMediaType": "plaintext",
    }
    assert success(webhook, delivery("[1, 2]")).body == b"ok "
    assert success(webhook, delivery("{bad")).body == b"ok "
