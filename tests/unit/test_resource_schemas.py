"""Connections, exports, imports and flows: what a client may send, what is kept, what is
refused and with which field path; and the integrator.io cron schedules flows run on."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from integrator.errors import ErrorItem, ValidationFailed
from integrator.resources import REGISTRY
from integrator.resources.base import validate_document
from integrator.resources.cron import next_run, parse_schedule

SEED_REQUESTS = Path(__file__).parents[2].parent / "shared" / "fixtures" / "seed-requests.json"
CID = "5587092ed78228000000000a"
NEW_YORK = ZoneInfo("America/New_York")


def load_seed_requests() -> dict[str, Any]:
    """The seeds' request bodies; a missing file skips locally but fails under CI."""
    if not SEED_REQUESTS.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SEED_REQUESTS} is missing")
        pytest.skip(f"{SEED_REQUESTS} is missing")
    data: dict[str, Any] = json.loads(SEED_REQUESTS.read_text())
    return data


def validate(type_: str, body: dict[str, Any]) -> dict[str, Any]:
    return validate_document(REGISTRY[type_], body)


def refusal(type_: str, body: dict[str, Any]) -> ErrorItem:
    with pytest.raises(ValidationFailed) as caught:
        validate(type_, body)
    return caught.value.items[0]


def rest_import(**extra: Any) -> dict[str, Any]:
    return {"_connectionId": CID, "rest": {"relativeURI": "/c", "method": "POST"}, **extra}


# --- the seeds ---------------------------------------------------------------------------------


def test_every_seed_export_and_import_body_validates_and_nothing_is_lost() -> None:
    checked = 0
    for request in load_seed_requests()["requests"]:
        # PUT .../distributed bodies are sub-documents, and seed 004's are virtual calls.
        if request["method"] != "POST" or request["path"] not in ("/exports", "/imports"):
            continue
        doc = validate(request["path"].strip("/"), request["body"])
        assert doc == request["body"], (request["seed"], request["body"].get("name"))
        checked += 1
    assert checked == 12  # 6 exports and 6 imports in seeds 000 and 001


@pytest.mark.parametrize("index", [0, 1, 2])
def test_import_accepts_seed_eField_gField_mapping_and_normalises_it(index: int) -> None:
    example = load_seed_requests()["mappings"][index]["mapping"]
    doc = validate("imports", rest_import(mapping=example))
    expected = [
        {
            **{k: v for k, v in entry.items() if k not in ("eField", "gField")},
            **({"extract": entry["eField"]} if "eField" in entry else {}),
            "generate": entry["gField"],
        }
        for entry in example["fieldMapping"]
    ]
    assert doc["mapping"] == {"name": example["name"], "fields": expected}


def test_eField_gField_inside_mapping_lists_are_normalised_too() -> None:
    mapping = {
        "lists": [
            {"generate": "lines", "fields": [{"eField": "items[*].sku", "gField": "sku"}]},
            {"generate": "notes", "fieldMapping": [{"gField": "text", "hardCodedValue": "-"}]},
        ]
    }
    doc = validate("imports", rest_import(mapping=mapping))
    assert doc["mapping"]["lists"] == [
        {"generate": "lines", "fields": [{"extract": "items[*].sku", "generate": "sku"}]},
        {"generate": "notes", "fields": [{"generate": "text", "hardCodedValue": "-"}]},
    ]


def test_mapping_with_both_fields_and_fieldMapping_is_refused() -> None:
    mapping = {"fields": [{"extract": "a", "generate": "b"}], "fieldMapping": []}
    error = refusal("imports", rest_import(mapping=mapping))
    assert (error.code, error.field) == ("invalid_field", "mapping.fieldMapping")


def test_unknown_fields_are_kept_verbatim_at_every_level() -> None:
    body = {
        "_connectionId": CID,
        "futureOption": {"nested": [1, "two", None]},
        "http": {"relativeURI": "/x", "method": "GET", "paging": {"method": "page", "x": 1}},
        "hooks": {"preSavePage": {"_scriptId": "s", "function": "f", "extra": True}},
    }
    assert validate("exports", body) == body


def test_top_level_nulls_are_dropped_and_nested_nulls_are_allowed() -> None:
    body = {"_connectionId": CID, "delta": None, "hooks": {"preSavePage": {"_stackId": None}}}
    assert validate("exports", body) == {"_connectionId": CID, "hooks": body["hooks"]}


# --- wrong JSON types, ranges and enums ---------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "body", "field"),
    [
        ("exports", {"_connectionId": CID, "pageSize": "20"}, "pageSize"),
        ("exports", {"_connectionId": CID, "asynchronous": "true"}, "asynchronous"),
        ("exports", {"_connectionId": CID, "test": {"limit": 1.5}}, "test.limit"),
        (
            "exports",
            {"_connectionId": CID, "http": {"headers": [{"name": "A", "value": 5}]}},
            "http.headers.0.value",
        ),
        ("imports", rest_import(rest={"method": 5}), "rest.method"),
        ("imports", rest_import(rest={"relativeURI": ["/a", 2]}), "rest.relativeURI"),
        (
            "imports",
            rest_import(rest={"lookups": [{"name": "l", "allowFailures": "no"}]}),
            "rest.lookups.0.allowFailures",
        ),
        (
            "imports",
            rest_import(mapping={"fields": [{"generate": "a", "extract": 1}]}),
            "mapping.fields.0.extract",
        ),
        ("imports", rest_import(distributed="true"), "distributed"),
        (
            "connections",
            {"type": "http", "http": {"concurrencyLevel": "5"}},
            "http.concurrencyLevel",
        ),
        ("connections", {"type": "http", "http": {"encrypted": 5}}, "http.encrypted"),
        ("flows", {"disabled": "false"}, "disabled"),
        ("flows", {"_runNextFlowIds": "5587092ed78228000000000b"}, "_runNextFlowIds"),
    ],
)
def test_wrong_json_types_are_refused_at_their_field_path(
    type_: str, body: dict[str, Any], field: str
) -> None:
    error = refusal(type_, body)
    assert (error.code, error.field) == ("invalid_field", field)


@pytest.mark.parametrize(
    ("type_", "body", "field"),
    [
        ("exports", {"_connectionId": CID, "pageSize": 0}, "pageSize"),
        ("exports", {"_connectionId": CID, "pageSize": 1001}, "pageSize"),
        ("exports", {"_connectionId": CID, "test": {"limit": 101}}, "test.limit"),
        (
            "connections",
            {"type": "http", "http": {"concurrencyLevel": 51}},
            "http.concurrencyLevel",
        ),
        ("connections", {"type": "rest", "rest": {"concurrencyLevel": 0}}, "rest.concurrencyLevel"),
    ],
)
def test_numbers_out_of_range_are_refused(type_: str, body: dict[str, Any], field: str) -> None:
    assert refusal(type_, body).field == field


@pytest.mark.parametrize(
    ("type_", "body", "field"),
    [
        ("connections", {"type": "soap"}, "type"),
        ("connections", {"type": "rest", "rest": {"mediaType": "yaml"}}, "rest.mediaType"),
        (
            "connections",
            {"type": "rest", "rest": {"tokenLocation": "cookie"}},
            "rest.tokenLocation",
        ),
        ("connections", {"type": "ftp", "ftp": {"type": "scp"}}, "ftp.type"),
        ("exports", {"_connectionId": CID, "type": "sometimes"}, "type"),
        (
            "exports",
            {"_connectionId": CID, "rest": {"pagingMethod": "cursor"}},
            "rest.pagingMethod",
        ),
        (
            "exports",
            {"_connectionId": CID, "http": {"paging": {"method": "cursor"}}},
            "http.paging.method",
        ),
        ("exports", {"_connectionId": CID, "http": {"method": "FETCH"}}, "http.method"),
        ("exports", {"type": "webhook", "webhook": {"verify": "magic"}}, "webhook.verify"),
        (
            "imports",
            rest_import(
                mapping={"fields": [{"generate": "a", "extract": "b", "dataType": "decimal"}]}
            ),
            "mapping.fields.0.dataType",
        ),
        ("imports", rest_import(rest={"method": ["PUT", "UPSERT"]}), "rest.method"),
        ("flows", {"pageProcessors": [{"type": "script"}]}, "pageProcessors.0.type"),
    ],
)
def test_values_outside_their_enum_are_refused(
    type_: str, body: dict[str, Any], field: str
) -> None:
    error = refusal(type_, body)
    assert (error.code, error.field) == ("invalid_field", field)


# --- connections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "block"),
    [
        ("http", "http"),
        ("rest", "rest"),
        ("ftp", "ftp"),
        ("sftp", "ftp"),
        ("s3", "s3"),
        ("netsuite", "netsuite"),
        ("wrapper", "wrapper"),
        ("rdbms", "rdbms"),
    ],
)
def test_connection_without_the_block_its_type_names_is_refused(type_: str, block: str) -> None:
    error = refusal("connections", {"name": "c", "type": type_})
    assert (error.code, error.field) == ("missing_required_field", block)


def test_connection_without_type_is_refused() -> None:
    error = refusal("connections", {"name": "c", "rest": {"baseURI": "https://x.io"}})
    assert (error.code, error.field) == ("missing_required_field", "type")


@pytest.mark.parametrize("type_", ["http", "rest"])
def test_http_and_rest_connections_need_an_http_url_base_uri(type_: str) -> None:
    missing = refusal("connections", {"type": type_, type_: {"mediaType": "json"}})
    assert (missing.code, missing.field) == ("missing_required_field", f"{type_}.baseURI")
    for bad in ("ftp://files.example.com", "api.example.com", "https://"):
        error = refusal("connections", {"type": type_, type_: {"baseURI": bad}})
        assert (error.code, error.field) == ("invalid_field", f"{type_}.baseURI")


def test_base_uri_may_be_a_handlebars_template_resolved_at_run_time() -> None:
    body = {"type": "http", "http": {"baseURI": "{{{connection.settings.url}}}"}}
    assert validate("connections", body) == body


def test_ftp_connection_needs_a_host() -> None:
    error = refusal("connections", {"type": "sftp", "ftp": {"username": "u", "password": "p"}})
    assert (error.code, error.field) == ("missing_required_field", "ftp.hostURI")


def test_connection_types_without_a_required_block_are_accepted_bare() -> None:
    assert validate("connections", {"type": "salesforce"}) == {"type": "salesforce"}


def test_seed_004_rest_connection_response_shape_is_accepted() -> None:
    body = {
        "type": "rest",
        "name": "Slack API",
        "rest": {
            "baseURI": "https://slack.com/api",
            "bearerToken": "******",
            "tokenLocation": "url",
            "tokenParam": "token",
            "mediaType": "urlencoded",
            "authType": "token",
            "encryptedFields": [],
            "unencryptedFields": [],
            "scope": [],
            "pingRelativeURI": "api.test",
        },
        "queues": [{"name": "554d", "size": 8}],
    }
    assert validate("connections", body) == body


def test_secret_objects_accept_a_real_object_or_the_mask() -> None:
    for encrypted in ({"apiKey": "k"}, "******"):
        body = {"type": "http", "http": {"baseURI": "https://x.io", "encrypted": encrypted}}
        assert validate("connections", body) == body


def test_connection_secret_paths_cover_the_documented_credentials() -> None:
    paths = set(REGISTRY["connections"].secret_paths)
    assert {
        "rest.bearerToken",
        "rest.refreshToken",
        "rest.basicAuth.password",
        "http.auth.token.token",
        "http.auth.basic.password",
        "http.encrypted",
        "ftp.password",
        "ftp.authKey",
        "s3.secretAccessKey",
        "netsuite.password",
        "netsuite.tokenSecret",
        "wrapper.encrypted",
        "rdbms.password",
    } <= paths


# --- exports -----------------------------------------------------------------------------------


def test_export_needs_a_connection_unless_it_is_a_webhook_or_simple() -> None:
    error = refusal("exports", {"name": "e", "rest": {"relativeURI": "/c"}})
    assert (error.code, error.field) == ("missing_required_field", "_connectionId")
    assert validate("exports", {"type": "simple"}) == {"type": "simple"}


@pytest.mark.parametrize(
    ("webhook", "field"),
    [
        (None, "webhook"),
        # A signed preset verifies its own way: it needs only its signing secret.
        ({"provider": "github"}, "webhook.key"),
        ({"provider": "jira"}, "webhook.verify"),
        (
            {"verify": "token", "token": "t" * 16, "tokenLocation": "header"},
            "webhook.tokenHeaderName",
        ),
        ({"verify": "hmac", "header": "X-Sig"}, "webhook.key"),
        ({"verify": "token", "path": "token"}, "webhook.token"),
        ({"verify": "basic", "username": "u"}, "webhook.password"),
    ],
)
def test_webhook_export_needs_a_verification_method_and_its_secret(
    webhook: dict[str, Any] | None, field: str
) -> None:
    body: dict[str, Any] = {"type": "webhook"}
    if webhook is not None:
        body["webhook"] = webhook
    error = refusal("exports", body)
    assert (error.code, error.field) == ("missing_required_field", field)


def test_delta_export_needs_delta_settings_except_over_http() -> None:
    netsuite = {"_connectionId": CID, "type": "delta", "netsuite": {"type": "search"}}
    error = refusal("exports", netsuite)
    assert (error.code, error.field) == ("missing_required_field", "delta")
    over_http = {
        "_connectionId": CID,
        "type": "delta",
        "http": {"method": "GET", "relativeURI": "/orders?since={{lastExportDateTime}}"},
    }
    assert validate("exports", over_http) == over_http


def test_once_export_needs_the_boolean_field_except_over_http() -> None:
    error = refusal("exports", {"_connectionId": CID, "type": "once", "once": {}})
    assert (error.code, error.field) == ("missing_required_field", "once.booleanField")
    body = {"_connectionId": CID, "type": "once", "http": {"once": {"relativeURI": "/done"}}}
    assert validate("exports", body) == body


def test_http_paging_needs_a_method() -> None:
    error = refusal("exports", {"_connectionId": CID, "http": {"paging": {"path": "next"}}})
    assert (error.code, error.field) == ("missing_required_field", "http.paging.method")


def test_modern_pre_save_page_hook_names_one_host_and_a_function() -> None:
    good = {"_connectionId": CID, "hooks": {"preSavePage": {"_scriptId": "s1", "function": "f"}}}
    assert validate("exports", good) == good
    no_function = {"_connectionId": CID, "hooks": {"preSavePage": {"_stackId": "s1"}}}
    error = refusal("exports", no_function)
    assert (error.code, error.field) == ("missing_required_field", "hooks.preSavePage.function")
    both = {
        "_connectionId": CID,
        "hooks": {"preSavePage": {"_scriptId": "a", "_stackId": "b", "function": "f"}},
    }
    assert refusal("exports", both).field == "hooks.preSavePage._stackId"


def test_exports_and_imports_are_registered_with_prefix_secrets_and_distributed_extra() -> None:
    exports, imports = REGISTRY["exports"], REGISTRY["imports"]
    assert (exports.api_identifier_prefix, imports.api_identifier_prefix) == ("e", "i")
    assert exports.extras == imports.extras == ("distributed",)
    assert {"distributed.bearerToken", "webhook.key", "webhook.token"} <= set(exports.secret_paths)


# --- imports -----------------------------------------------------------------------------------


def test_import_needs_a_connection() -> None:
    error = refusal("imports", {"name": "i", "rest": {"relativeURI": "/c", "method": "POST"}})
    assert (error.code, error.field) == ("missing_required_field", "_connectionId")


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        (
            {"fields": [{"extract": "a", "generate": "b"}, {"extract": "c"}]},
            "mapping.fields.1.generate",
        ),
        ({"fields": [{"generate": "b", "dataType": "string"}]}, "mapping.fields.0.extract"),
        ({"lists": [{"fields": [{"extract": "a", "generate": "b"}]}]}, "mapping.lists.0.generate"),
        (
            {"lists": [{"generate": "l", "fields": [{"extract": "a"}]}]},
            "mapping.lists.0.fields.0.generate",
        ),
    ],
)
def test_mapped_fields_need_a_target_and_a_source(mapping: dict[str, Any], field: str) -> None:
    error = refusal("imports", rest_import(mapping=mapping))
    assert (error.code, error.field) == ("missing_required_field", field)


def test_a_field_with_only_generate_and_lookup_name_is_valid() -> None:
    body = rest_import(
        lookups=[{"name": "orderLookup", "map": {"a": "b"}}],
        mapping={"fields": [{"generate": "custbody_previous", "lookupName": "orderLookup"}]},
    )
    assert validate("imports", body) == body


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        (
            {"fields": [{"extract": "a", "generate": "b", "lookupName": "nope"}]},
            "mapping.fields.0.lookupName",
        ),
        (
            {
                "lists": [
                    {
                        "generate": "l",
                        "fields": [{"extract": "a", "generate": "b", "lookupName": "nope"}],
                    }
                ]
            },
            "mapping.lists.0.fields.0.lookupName",
        ),
        (
            {
                "fields": [
                    {
                        "extract": "a",
                        "generate": "b",
                        "conditional": {"when": "lookup_empty", "lookupName": "nope"},
                    }
                ]
            },
            "mapping.fields.0.conditional.lookupName",
        ),
    ],
)
def test_lookup_names_must_name_a_lookup_of_the_import(mapping: dict[str, Any], field: str) -> None:
    body = rest_import(mapping=mapping)
    body["rest"]["lookups"] = [{"name": "known", "map": {}}]
    error = refusal("imports", body)
    assert (error.code, error.field) == ("invalid_field", field)


def test_lookups_may_be_defined_at_the_top_or_in_any_adaptor_block() -> None:
    mapping = {"fields": [{"extract": "a", "generate": "b", "lookupName": "l"}]}
    top = rest_import(mapping=mapping, lookups=[{"name": "l", "map": {}}])
    netsuite = {
        "_connectionId": CID,
        "netsuite": {"recordType": "customer", "lookups": [{"name": "l", "map": {}}]},
        "mapping": mapping,
    }
    assert validate("imports", top) == top
    assert validate("imports", netsuite) == netsuite


def test_distributed_import_lookup_names_are_left_to_the_distributed_sub_document() -> None:
    mapping = {"fields": [{"extract": "a", "generate": "b", "lookupName": "customerLookup"}]}
    body = {"_connectionId": CID, "distributed": True, "mapping": mapping}
    assert validate("imports", body) == body


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"relativeURI": ["/c/{id}", "/c"], "method": ["PUT"]}, "rest.method"),
        ({"relativeURI": [], "method": []}, "rest.relativeURI"),
    ],
)
def test_composite_rest_import_lists_must_pair_up(block: dict[str, Any], field: str) -> None:
    error = refusal("imports", {"_connectionId": CID, "rest": block})
    assert (error.code, error.field) == ("invalid_field", field)


def test_composite_http_import_aligns_uri_method_and_request_type() -> None:
    http = {"relativeURI": ["/c/1", "/c"], "method": ["PUT", "POST"], "requestType": ["UPDATE"]}
    error = refusal("imports", {"_connectionId": CID, "http": http})
    assert (error.code, error.field) == ("invalid_field", "http.requestType")
    http["requestType"] = ["UPDATE", "CREATE"]
    assert validate("imports", {"_connectionId": CID, "http": http})["http"] == http


def test_single_entry_lists_and_a_string_uri_with_method_list_are_accepted() -> None:
    for rest in (
        {"relativeURI": ["/system/v1/heartbeat"], "method": ["PUT"]},
        {"relativeURI": "/c", "method": ["PUT", "POST"]},
    ):
        assert validate("imports", {"_connectionId": CID, "rest": rest})["rest"] == rest


# --- flows -------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["? 0 2 ? * *", "? */5 * * * *", "? 5 0,6,12,18 ? * *"])
def test_flow_accepts_the_documented_schedules(schedule: str) -> None:
    body = {"name": "f", "schedule": schedule, "timezone": "America/Los_Angeles"}
    assert validate("flows", body) == body


@pytest.mark.parametrize(
    "schedule", ["0 2 * * *", "* 0 2 * * *", "? 61 * * * *", "? 0 2 L * *", ""]
)
def test_flow_with_a_bad_schedule_is_refused(schedule: str) -> None:
    error = refusal("flows", {"schedule": schedule})
    assert (error.code, error.field) == ("invalid_field", "schedule")
    assert "Invalid cron expression" in error.message


def test_page_generator_schedule_is_checked_too() -> None:
    body = {"pageGenerators": [{"_exportId": "e1"}, {"_exportId": "e2", "schedule": "nightly"}]}
    assert refusal("flows", body).field == "pageGenerators.1.schedule"


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "EST+5", "", "../etc/passwd"])
def test_flow_with_an_unknown_time_zone_is_refused(timezone: str) -> None:
    error = refusal("flows", {"timezone": timezone})
    assert (error.code, error.field) == ("invalid_field", "timezone")


def test_page_generators_need_an_export() -> None:
    error = refusal("flows", {"pageGenerators": [{"schedule": "? 0 2 ? * *"}]})
    assert (error.code, error.field) == ("missing_required_field", "pageGenerators.0._exportId")


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"type": "import", "_exportId": "e1"}, "pageProcessors.0._importId"),
        ({"type": "export"}, "pageProcessors.0._exportId"),
    ],
)
def test_page_processors_name_the_resource_their_type_says(
    step: dict[str, Any], field: str
) -> None:
    error = refusal("flows", {"pageProcessors": [step]})
    assert (error.code, error.field) == ("missing_required_field", field)


def test_routers_are_accepted_loosely_but_their_steps_are_checked() -> None:
    branch = {"name": "b", "pageProcessors": [{"type": "import", "_importId": "i1"}]}
    body = {"routers": [{"routeRecordsTo": "first_matching_branch", "branches": [branch]}]}
    assert validate("flows", body) == body
    branch["pageProcessors"] = [{"type": "import"}]
    assert refusal("flows", body).field == "routers.0.branches.0.pageProcessors.0._importId"


def test_a_flow_uses_page_processors_or_routers_not_both() -> None:
    body = {
        "pageProcessors": [{"type": "import", "_importId": "i1"}],
        "routers": [{"branches": []}],
    }
    assert refusal("flows", body).field == "routers"


def test_legacy_single_pair_flow_is_accepted() -> None:
    body = {"name": "f", "_exportId": "e1", "_importId": "i1", "schedule": "? 0 2 ? * *"}
    assert validate("flows", body) == body


def test_flow_patches_are_limited_to_the_documented_fields() -> None:
    patchable = REGISTRY["flows"].patchable
    assert patchable is not None
    assert {"name", "schedule", "timezone", "disabled", "pageGenerators"} <= patchable
    assert "pageProcessors" not in patchable and "_integrationId" not in patchable


# --- cron --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "expression"),
    [
        ("? 0 2 ? * *", "0 2 * * *"),
        ("? */5 * * * *", "*/5 * * * *"),
        ("? 5 0,6,12,18 ? * *", "5 0,6,12,18 * * *"),
        ("0 30 8 ? * MON-FRI", "30 8 * * MON-FRI"),
    ],
)
def test_schedules_parse_to_five_field_cron(schedule: str, expression: str) -> None:
    assert parse_schedule(schedule) == expression


@pytest.mark.parametrize(
    "schedule",
    ["? 0 0 31 2 *", "? H * * * *", "? 0 2 ? * 5L", "? 0 ? * * *", "30 0 2 * * *", "? */0 * * * *"],
)
def test_schedules_that_are_not_integrator_io_cron_are_refused(schedule: str) -> None:
    with pytest.raises(ValueError, match="Invalid cron expression"):
        parse_schedule(schedule)


def test_next_run_keeps_wall_clock_time_across_daylight_saving_changes() -> None:
    spring = next_run("? 0 9 ? * *", "America/New_York", datetime(2024, 3, 9, 12, tzinfo=NEW_YORK))
    assert spring == datetime(2024, 3, 10, 13, tzinfo=UTC)  # 09:00 EDT
    autumn = next_run("? 0 9 ? * *", "America/New_York", datetime(2024, 11, 2, 12, tzinfo=NEW_YORK))
    assert autumn == datetime(2024, 11, 3, 14, tzinfo=UTC)  # 09:00 EST


def test_a_time_in_the_skipped_hour_runs_once_shifted_forward() -> None:
    after = datetime(2024, 3, 9, 3, tzinfo=NEW_YORK)
    run = next_run("? 30 2 ? * *", "America/New_York", after)
    assert run.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2024, 3, 10, 3, 30)


def test_a_fixed_time_in_the_repeated_hour_runs_once() -> None:
    runs = [datetime(2024, 11, 2, 12, tzinfo=UTC)]
    for _ in range(2):
        runs.append(next_run("? 30 1 ? * *", "America/New_York", runs[-1]))
    assert [run.astimezone(NEW_YORK).isoformat() for run in runs[1:]] == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
    ]


@pytest.mark.parametrize(
    "start", [datetime(2024, 3, 9, 20, tzinfo=UTC), datetime(2024, 11, 2, 20, tzinfo=UTC)]
)
def test_interval_schedules_keep_their_spacing_across_clock_changes(start: datetime) -> None:
    runs = [start]
    for _ in range(100):  # 25 hours of quarter-hours, across the change
        runs.append(next_run("? */15 * * * *", "America/New_York", runs[-1]))
    spacings = {later - earlier for earlier, later in itertools.pairwise(runs[1:])}
    assert spacings == {timedelta(minutes=15)}


def test_next_run_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run("? 0 2 ? * *", "UTC", datetime(2024, 1, 1))
