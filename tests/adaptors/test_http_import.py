"""HTTP/REST imports over real HTTP against the fake SaaS app: composite add-or-update decided by
a lookup, ignoreExisting, lookup defaults, API errors, flaky servers, batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stamina

from fakes import FakeSaas
from integrator.adaptors.http.auth import AuthFailed
from integrator.adaptors.http.client import ConnectionClient
from integrator.adaptors.http.imports import count_results, import_records


@pytest.fixture(autouse=True)
def fast_backoff() -> Iterator[None]:
    stamina.set_testing(True, attempts=100, cap=True)
    yield
    stamina.set_testing(False)


def connection_for(fake: FakeSaas, **http: Any) -> dict[str, Any]:
    return {
        "_id": "c" * 24,
        "type": "http",
        "http": {"baseURI": fake.base_url, "mediaType": "json", **http},
    }


def composite_import(**extra: Any) -> dict[str, Any]:
    """Seed 000/001's "Composite Add or Update Import", on the fake's paths."""
    return {
        "name": "Composite Add or Update Import",
        "_connectionId": "c" * 24,
        "rest": {
            "relativeURI": ["/api/customers/{idLookup}", "/api/customers"],
            "method": ["PUT", "POST"],
            "lookups": [
                {
                    "name": "idLookup",
                    "relativeURI": "/api/customers?ns_id={internalId}",
                    "method": "GET",
                    "extract": "0.id",
                },
                {
                    "name": "currencyMap",
                    "map": {"USA": "USD", "JAPAN": "JPY", "UK": "GDP"},
                    "allowFailures": "false",
                },
            ],
        },
        "mapping": {
            "fields": [
                {"extract": "internalId", "generate": "ns_id"},
                {"extract": "email", "generate": "email"},
                {"extract": "billingAddress.city", "generate": "city"},
                {"extract": "{firstName} {lastName}", "generate": "addressee"},
                {"generate": "opt_out", "hardCodedValue": False},
                {
                    "extract": "billingAddress.country",
                    "generate": "currency",
                    "lookupName": "currencyMap",
                },
            ]
        },
        **extra,
    }


def source(ns_id: str, first: str, country: str = "USA", **extra: Any) -> dict[str, Any]:
    return {
        "internalId": ns_id,
        "firstName": first,
        "lastName": "Doe",
        "email": f"{first.lower()}@example.com",
        "billingAddress": {"city": "Boston", "country": country},
        **extra,
    }


def seed_customer(fake: FakeSaas, **fields: Any) -> int:
    with fake.lock:
        customer_id = fake.next_customer_id
        fake.customers[customer_id] = {"id": customer_id, **fields}
        fake.next_customer_id += 1
    return customer_id


def test_composite_import_creates_missing_customers_and_updates_existing_ones() -> None:
    with FakeSaas.running(records=0) as fake:
        existing = seed_customer(fake, ns_id="ns-1", email="old@example.com", name="Old")
        records = [source("ns-1", "Ann"), source("ns-2", "Bob", "JAPAN")]

        results = import_records(composite_import(), connection_for(fake), records)

        assert [r["statusCode"] for r in results] == [200, 200]
        assert [r["errors"] for r in results] == [[], []]
        assert results[0]["id"] == str(existing)
        created = int(results[1]["id"])
        assert created != existing
        updated = fake.customers[existing]
        assert updated["email"] == "ann@example.com"
        assert updated["addressee"] == "Ann Doe"
        assert updated["currency"] == "USD"
        assert updated["opt_out"] is False
        assert updated["name"] == "Old"  # PUT merged into the existing customer
        assert fake.customers[created]["ns_id"] == "ns-2"
        assert fake.customers[created]["currency"] == "JPY"
        assert results[1]["_json"]["id"] == created
        sent = [(r.method, r.path) for r in fake.requests if r.method != "GET"]
        assert sent == [("PUT", f"/api/customers/{existing}"), ("POST", "/api/customers")]


def test_a_lookup_used_by_the_uri_and_a_field_sends_one_request_per_record() -> None:
    doc = composite_import()
    doc["mapping"]["fields"].append({"generate": "ref", "lookupName": "idLookup"})
    with FakeSaas.running(records=0) as fake:
        existing = seed_customer(fake, ns_id="ns-1", email="a@example.com")
        results = import_records(doc, connection_for(fake), [source("ns-1", "Ann")])
        assert results[0]["statusCode"] == 200
        assert fake.customers[existing]["ref"] == existing
        lookups = [r for r in fake.requests if r.method == "GET"]
        assert len(lookups) == 1


def test_ignore_existing_skips_existing_customers_and_reports_them_ignored() -> None:
    doc = composite_import(ignoreExisting=True)
    doc["rest"]["ignoreLookupName"] = "idLookup"
    with FakeSaas.running(records=0) as fake:
        existing = seed_customer(fake, ns_id="ns-1", email="old@example.com")
        records = [source("ns-1", "Ann"), source("ns-2", "Bob"), source("ns-3", "Cid")]

        results = import_records(doc, connection_for(fake), records)

        assert results[0] == {
            "statusCode": 200,
            "id": str(existing),
            "_json": None,
            "errors": [],
            "ignored": True,
        }
        assert [r["ignored"] for r in results] == [True, False, False]
        assert count_results(results) == {"numSuccess": 2, "numError": 0, "numIgnore": 1}
        assert fake.customers[existing]["email"] == "old@example.com"
        assert len(fake.customers) == 3


def test_ignore_missing_skips_records_that_do_not_exist_using_ignore_extract() -> None:
    doc = {
        "ignoreMissing": True,
        "http": {
            "relativeURI": "/api/customers/{{record.customerId}}",
            "method": "PUT",
            "ignoreExtract": "customerId",
        },
    }
    with FakeSaas.running(records=0) as fake:
        existing = seed_customer(fake, email="a@example.com")
        records = [{"customerId": existing, "name": "Renamed"}, {"name": "Nobody"}]

        results = import_records(doc, connection_for(fake), records)

        assert [r["ignored"] for r in results] == [False, True]
        assert fake.customers[existing]["name"] == "Renamed"


def test_lookup_default_and_allow_failures_decide_what_a_missing_match_gives() -> None:
    doc = {
        "http": {
            "relativeURI": "/api/customers",
            "method": "POST",
            "lookups": [
                {
                    "name": "withDefault",
                    "relativeURI": "/api/customers?email={ref}",
                    "extract": "0.id",
                    "default": "none",
                },
                {
                    "name": "allowed",
                    "relativeURI": "/api/customers?email={ref}",
                    "extract": "0.id",
                    "allowFailures": True,
                },
                {
                    "name": "strict",
                    "relativeURI": "/api/customers?email={ref}",
                    "extract": "0.id",
                    "allowFailures": "false",
                },
            ],
        },
        "mapping": {
            "fields": [
                {"extract": "email", "generate": "email"},
                {"generate": "referrer", "lookupName": "withDefault"},
                {"generate": "referrer_id", "lookupName": "allowed"},
                {"generate": "strict_id", "lookupName": "strict"},
            ]
        },
    }
    with FakeSaas.running(records=0) as fake:
        referrer = seed_customer(fake, email="ref@example.com")
        records = [
            {"email": "a@example.com", "ref": "ref@example.com"},
            {"email": "b@example.com", "ref": "nobody@example.com"},
        ]

        results = import_records(doc, connection_for(fake), records)

        assert results[0]["statusCode"] == 200
        found = fake.customers[int(results[0]["id"])]
        assert (found["referrer"], found["referrer_id"], found["strict_id"]) == (
            referrer,
            referrer,
            referrer,
        )
        assert results[1]["statusCode"] == 422
        assert results[1]["id"] is None
        assert [(e["code"], e["field"]) for e in results[1]["errors"]] == [
            ("lookup_failed", "strict_id")
        ]
        assert len(fake.customers) == 2  # the failed record was never sent


def test_a_422_from_the_api_fails_only_its_record() -> None:
    doc = {"http": {"relativeURI": "/api/customers", "method": "POST"}}
    records = [{"email": "a@example.com"}, {"email": "not-an-address"}, {"email": "c@example.com"}]
    with FakeSaas.running(records=0) as fake:
        results = import_records(doc, connection_for(fake), records)

        assert [r["statusCode"] for r in results] == [200, 422, 200]
        assert results[1]["errors"] == [
            {
                "code": "422",
                "message": "email is not a valid address",
                "source": "application",
                "field": "email",
            }
        ]
        assert results[1]["_json"] == {
            "errors": [{"field": "email", "message": "email is not a valid address"}]
        }
        assert count_results(results) == {"numSuccess": 2, "numError": 1, "numIgnore": 0}
        assert sorted(c["email"] for c in fake.customers.values()) == [
            "a@example.com",
            "c@example.com",
        ]


def test_a_404_on_update_is_a_record_error_with_the_api_message() -> None:
    doc = {"http": {"relativeURI": "/api/customers/{id}", "method": "PUT"}}
    with FakeSaas.running(records=0) as fake:
        results = import_records(doc, connection_for(fake), [{"id": 99, "name": "x"}])
        assert results[0]["statusCode"] == 404
        assert results[0]["errors"][0]["message"] == "customer 99 not found"


def test_flaky_500s_and_429s_are_retried_and_every_record_lands() -> None:
    doc = {"http": {"relativeURI": "/api/customers", "method": "POST"}}
    records = [{"email": f"user{i}@example.com"} for i in range(30)]
    with FakeSaas.running(records=0, seed=3) as fake:
        fake.fail_rate_429 = 0.2
        fake.fail_rate_500 = 0.2
        client = ConnectionClient(connection_for(fake), sleep=lambda _: None, max_attempts=20)
        with client:
            results = import_records(doc, connection_for(fake), records, client=client)
        assert all(r["statusCode"] == 200 for r in results)
        assert len(fake.customers) == 30
        assert {r.status for r in fake.requests} >= {429, 500, 201}


def test_a_request_that_keeps_failing_becomes_a_record_error_and_the_rest_continue() -> None:
    doc = {"http": {"relativeURI": "/api/customers", "method": "POST"}, "maxAttempts": 2}
    records = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    with FakeSaas.running(records=0) as fake:
        fake.fail_next(500, count=2)
        results = import_records(doc, connection_for(fake), records)
        assert results[0]["statusCode"] == 500
        assert results[0]["errors"][0]["code"] == "500"
        assert results[1]["statusCode"] == 200
        assert len(fake.customers) == 1


def test_rejected_credentials_abort_the_whole_import() -> None:
    doc = {"http": {"relativeURI": "/api/customers", "method": "POST"}}
    with FakeSaas.running(records=0, require_token=True) as fake:
        with pytest.raises(AuthFailed):
            import_records(doc, connection_for(fake), [{"email": "a@example.com"}])
        assert fake.customers == {}


def test_mapping_errors_stop_only_their_record_and_results_keep_input_order() -> None:
    doc = {
        "http": {
            "relativeURI": "/api/customers",
            "method": "POST",
            "lookups": [{"name": "tier", "map": {"g": "gold", "s": "silver"}}],
        },
        "mapping": {
            "fields": [
                {"extract": "email", "generate": "email"},
                {"extract": "level", "generate": "tier", "lookupName": "tier"},
            ]
        },
    }
    records = [
        {"email": "a@example.com", "level": "g"},
        {"email": "b@example.com", "level": "platinum"},
        {"email": "c@example.com", "level": "s"},
    ]
    with FakeSaas.running(records=0) as fake:
        results = import_records(doc, connection_for(fake), records)

        assert [r["statusCode"] for r in results] == [200, 422, 200]
        assert results[1]["errors"][0]["source"] == "mapping"
        assert results[1]["errors"][0]["field"] == "tier"
        stored = [fake.customers[int(r["id"])] for r in (results[0], results[2])]
        assert [(c["email"], c["tier"]) for c in stored] == [
            ("a@example.com", "gold"),
            ("c@example.com", "silver"),
        ]
        assert len(fake.customers) == 2


def test_response_id_path_and_success_path_read_the_answer() -> None:
    doc = {
        "http": {
            "relativeURI": "/api/customers",
            "method": "POST",
            "response": {"resourceIdPath": "email", "successPath": "email"},
        }
    }
    with FakeSaas.running(records=0) as fake:
        results = import_records(doc, connection_for(fake), [{"email": "a@example.com"}])
        assert results[0]["id"] == "a@example.com"

        doc["http"]["response"] = {"successPath": "created_at", "successValues": ["never"]}
        failed = import_records(doc, connection_for(fake), [{"email": "b@example.com"}])
        assert failed[0]["statusCode"] == 422
        assert failed[0]["errors"][0]["code"] == "success_path"


def test_a_body_template_renders_the_mapped_record() -> None:
    doc = {
        "http": {
            "relativeURI": "/api/customers",
            "method": "POST",
            "body": '{"email": "{{record.mail}}", "name": "{{record.who}}"}',
        },
        "mapping": {
            "fields": [
                {"extract": "email", "generate": "mail"},
                {"extract": "{first} {last}", "generate": "who"},
            ]
        },
    }
    with FakeSaas.running(records=0) as fake:
        record = {"email": "q@example.com", "first": 'Jo "JJ"', "last": "Ray"}
        results = import_records(doc, connection_for(fake), [record])
        assert results[0]["statusCode"] == 200
        stored = fake.customers[int(results[0]["id"])]
        assert stored["name"] == 'Jo "JJ" Ray'


def test_batches_send_arrays_and_split_the_answer_back_to_records() -> None:
    doc = {"http": {"relativeURI": "/api/customers/batch", "method": "POST", "batchSize": 2}}
    records = [
        {"email": "a@example.com"},
        {"email": "bad"},
        {"email": "c@example.com"},
    ]
    with FakeSaas.running(records=0) as fake:
        results = import_records(doc, connection_for(fake), records)

        assert [r["statusCode"] for r in results] == [200, 422, 200]
        assert results[1]["errors"][0]["message"] == "email is not a valid address"
        assert [fake.customers[int(r["id"])]["email"] for r in (results[0], results[2])] == [
            "a@example.com",
            "c@example.com",
        ]
        assert [r.path for r in fake.requests] == ["/api/customers/batch"] * 2


def test_urlencoded_connections_send_form_bodies() -> None:
    doc = {"http": {"relativeURI": "/api/customers", "method": "POST"}}
    with FakeSaas.running(records=0) as fake:
        results = import_records(
            doc, connection_for(fake, mediaType="urlencoded"), [{"email": "a@example.com"}]
        )
        # The fake only reads JSON: the 400 proves a form body went out.
        assert results[0]["statusCode"] == 400
        assert fake.requests[0].body == b"email=a%40example.com"


def test_modern_composite_uses_request_type_and_existing_extract() -> None:
    doc = {
        "http": {
            "relativeURI": ["/api/customers", "/api/customers/{{record.customerId}}"],
            "method": ["POST", "PUT"],
            "requestType": ["CREATE", "UPDATE"],
            "existingExtract": "customerId",
        }
    }
    with FakeSaas.running(records=0) as fake:
        existing = seed_customer(fake, email="a@example.com")
        records = [{"customerId": existing, "name": "Ann"}, {"email": "b@example.com"}]

        results = import_records(doc, connection_for(fake), records)

        assert [r["statusCode"] for r in results] == [200, 200]
        assert fake.customers[existing]["name"] == "Ann"
        assert [(r.method, r.path) for r in fake.requests] == [
            ("PUT", f"/api/customers/{existing}"),
            ("POST", "/api/customers"),
        ]


def test_a_lookup_whose_api_fails_fails_only_its_record() -> None:
    doc = composite_import(maxAttempts=1)
    with FakeSaas.running(records=0) as fake:
        fake.fail_next(500, count=1)
        results = import_records(
            doc, connection_for(fake), [source("ns-1", "Ann"), source("ns-2", "Bob")]
        )
        assert results[0]["statusCode"] == 422
        assert results[0]["errors"][0]["source"] == "lookup"
        assert results[1]["statusCode"] == 200
        assert len(fake.customers) == 1


def test_post_map_sees_mapped_records_before_anything_is_sent() -> None:
    import_doc = {
        "_connectionId": "c" * 24,
        "http": {"relativeURI": "/api/customers", "method": "POST"},
        "mapping": {"fields": [{"extract": "mail", "generate": "email"}]},
    }
    seen: list[tuple[list[Any], list[Any]]] = []

    def post_map(
        pre: list[dict[str, Any]], post: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any] | None, list[dict[str, Any]], bool]]:
        seen.append((pre, post))
        return [
            (None, [{"code": "no", "message": "refused by postMap"}], False),
            ({**post[1], "name": "Stamped"}, [], False),
            (None, [], True),
        ]

    with FakeSaas.running() as fake:
        records = [{"mail": f"p{n}@example.com"} for n in range(3)]
        results = import_records(import_doc, connection_for(fake), records, post_map=post_map)
        assert seen == [(records, [{"email": f"p{n}@example.com"} for n in range(3)])]
        assert results[0]["statusCode"] == 422
        assert results[0]["errors"][0]["message"] == "refused by postMap"
        assert (results[1]["statusCode"], results[1]["errors"]) == (200, [])
        assert results[2]["ignored"] is True
        assert [(c["email"], c.get("name")) for c in fake.customers.values()] == [
            ("p1@example.com", "Stamped")
        ]
