"""The Mapper 1.0 engine: seed 003's examples, the seed 000/001 imports, lists, lookups,
conditions and per-record errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrator.errors import ValidationFailed
from integrator.mapping import (
    LookupFailure,
    LookupProvider,
    MapResult,
    compile_import,
    compile_mapping,
    map_records,
)

SEED_REQUESTS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "seed-requests.json"


def seed_mappings() -> list[dict[str, Any]]:
    if not SEED_REQUESTS.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SEED_REQUESTS} is missing")
        pytest.skip(f"{SEED_REQUESTS} is missing")
    examples: list[dict[str, Any]] = json.loads(SEED_REQUESTS.read_text())["mappings"]
    return examples


def mapped(mapping: dict[str, Any], record: dict[str, Any], **options: Any) -> dict[str, Any]:
    result = compile_mapping(mapping, options.pop("lookups", [])).map(record, **options)
    assert result.errors == (), result.errors
    assert result.record is not None
    return result.record


# --- seed 003 ------------------------------------------------------------------------------


def test_every_seed_003_mapping_example_produces_exactly_the_expected_document() -> None:
    examples = seed_mappings()
    assert len(examples) == 3
    for example in examples:
        result = compile_mapping(example["mapping"]).map(example["source"])
        assert result == MapResult(example["expected"])


def test_seed_003_outputs_keep_the_mapping_order_of_keys() -> None:
    """Seed 003 prints example 2 as isNew, isLocal, contact; no mapping order gives that (contact
    is mapped first, and inside it firstName first), so it does not fix an order. Ours is the
    mapping's: a key takes its place when it is first written."""
    one, two, three = (compile_mapping(e["mapping"]).map(e["source"]) for e in seed_mappings())
    assert one.record is not None and two.record is not None and three.record is not None
    assert list(one.record) == ["firstName", "lastName"]
    assert list(two.record) == ["contact", "isLocal", "isNew"]
    assert list(two.record["contact"]) == ["firstName", "lastName", "age"]
    assert list(three.record) == ["message"]


def test_a_missing_source_field_is_omitted_without_creating_its_parent_object() -> None:
    # Seed 003 example 3: "first" is absent, so neither contact.firstName nor contact appears.
    mapping = {"fieldMapping": [{"eField": "first", "gField": "contact.firstName"}]}
    assert mapped(mapping, {"id": 1}) == {}


def test_a_null_source_value_is_written_as_null() -> None:
    assert mapped({"fields": [{"extract": "a", "generate": "b"}]}, {"a": None}) == {"b": None}


# --- seed 000/001 imports ------------------------------------------------------------------

ORDER: dict[str, Any] = {
    "web_order_num": "W-1001",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "city": "London",
    "zip": "N1 9GU",
    "country": "UK",
    "email": "ada@example.com",
    "last_order": "SO-77",
    "tax_percent": 8.25,
    "is_taxable": True,
    "order_lines": [
        {"sku": "WID-1", "price": 9.5, "quantity": 2},
        {"sku": "GAD-2", "price": 20, "quantity": 1},
        {"sku": "GIZ-3", "price": 3.25, "quantity": 4},
    ],
    "shipments": [{"ship_via": "UPS", "weight": 1.2}, {"ship_via": "FedEx", "weight": 0.4}],
}

#: Seed 000, "NetSuite Distributed Adaptor Imports": PUT /imports/{_id}/distributed.
DISTRIBUTED_IMPORT: dict[str, Any] = {
    "recordType": "salesorder",
    "operation": "addupdate",
    "internalIdLookup": {"extract": "web_order_num", "searchField": "tranid"},
    "lookups": [
        {
            "name": "customerLookup",
            "recordType": "customer",
            "searchField": "email",
            "resultField": "internalid",
            "allowFailures": "false",
            "includeInactive": "false",
        },
        {
            "name": "currencyMap",
            "map": {"USA": "USD", "JAPAN": "JPY", "UK": "GDP"},
            "allowFailures": "false",
        },
        {
            "name": "itemLookup",
            "recordType": "item",
            "searchField": "itemid",
            "resultField": "internalid",
            "allowFailures": "false",
            "includeInactive": "false",
        },
        {
            "name": "orderLookup",
            "recordType": "salesorder",
            "expression": "[['tranid','is','{{last_order}}'],'OR',"
            "['custbody_web_id','is','{{last_order}}']]",
            "allowFailures": True,
        },
    ],
    "mapping": {
        "fields": [
            {"extract": "city", "generate": "billcity"},
            {"extract": "zip", "generate": "billzip"},
            {"extract": "{first_name} {last_name}", "generate": "billaddressee"},
            {"generate": "ismultishipto", "hardCodedValue": False},
            {"generate": "custbody_source", "hardCodedValue": "webstore"},
            {"extract": "email", "generate": "entity", "lookupName": "customerLookup"},
            {"extract": "country", "generate": "currency", "lookupName": "currencyMap"},
            {"generate": "custbody_previous", "lookupName": "orderLookup"},
        ],
        "lists": [
            {
                "generate": "item",
                "fields": [
                    {
                        "extract": "order_lines[*].sku",
                        "generate": "item",
                        "lookupName": "itemLookup",
                    },
                    {"extract": "order_lines[*].price", "generate": "rate"},
                    {"extract": "order_lines[*].quantity", "generate": "quantity"},
                    {"extract": "shipments[*].ship_via", "generate": "shipmethod"},
                    {"extract": "shipments[*].weight", "generate": "custcolumn_weight"},
                    {"extract": "tax_percent", "generate": "taxrate1"},
                    {"extract": "is_taxable", "generate": "istaxable"},
                ],
            }
        ],
    },
}


class FakeNetSuite:
    """An in-memory NetSuite: searches ``recordType`` by ``searchField`` for ``resultField``."""

    def __init__(self) -> None:
        self.records = {
            "customer": [{"email": "ada@example.com", "internalid": "1044"}],
            "item": [
                {"itemid": "WID-1", "internalid": "501"},
                {"itemid": "GAD-2", "internalid": "502"},
                {"itemid": "GIZ-3", "internalid": "503"},
            ],
            "salesorder": [{"tranid": "SO-77", "internalid": "8812"}],
        }
        self.calls: list[tuple[str, Any]] = []

    def lookup(self, lookup: dict[str, Any], value: Any, record: dict[str, Any]) -> Any:
        self.calls.append((lookup["name"], value))
        if "expression" in lookup:  # the expression reads the record: {{last_order}}
            field, wanted = "tranid", record.get("last_order")
        else:
            field, wanted = lookup["searchField"], value
        for row in self.records[lookup["recordType"]]:
            if row.get(field) == wanted:
                return row[lookup.get("resultField", "internalid")]
        raise LookupFailure(f"no {lookup['recordType']} with {field} {wanted}")


def test_fake_netsuite_is_a_lookup_provider() -> None:
    assert isinstance(FakeNetSuite(), LookupProvider)


def test_seed_000_distributed_netsuite_order_maps_fields_lookups_and_paired_lists() -> None:
    provider = FakeNetSuite()
    [result] = map_records(DISTRIBUTED_IMPORT, [ORDER], provider)
    assert result.errors == ()
    assert result.record == {
        "billcity": "London",
        "billzip": "N1 9GU",
        "billaddressee": "Ada Lovelace",
        "ismultishipto": False,
        "custbody_source": "webstore",
        "entity": "1044",
        "currency": "GDP",
        "custbody_previous": "8812",
        "item": [
            {
                "item": "501",
                "rate": 9.5,
                "quantity": 2,
                "shipmethod": "UPS",
                "custcolumn_weight": 1.2,
                "taxrate1": 8.25,
                "istaxable": True,
            },
            {
                "item": "502",
                "rate": 20,
                "quantity": 1,
                "shipmethod": "FedEx",
                "custcolumn_weight": 0.4,
                "taxrate1": 8.25,
                "istaxable": True,
            },
            # Only two shipments: the third line has no shipment fields.
            {"item": "503", "rate": 3.25, "quantity": 4, "taxrate1": 8.25, "istaxable": True},
        ],
    }
    assert provider.calls == [
        ("customerLookup", "ada@example.com"),
        ("orderLookup", None),
        ("itemLookup", "WID-1"),
        ("itemLookup", "GAD-2"),
        ("itemLookup", "GIZ-3"),
    ]


def test_seed_000_order_lookup_that_finds_nothing_is_left_out_because_failures_are_allowed() -> (
    None
):
    [result] = map_records(DISTRIBUTED_IMPORT, [{**ORDER, "last_order": "SO-1"}], FakeNetSuite())
    assert result.record is not None
    assert "custbody_previous" not in result.record


def test_seed_000_unknown_customer_fails_only_that_record() -> None:
    orders = [ORDER, {**ORDER, "email": "nobody@example.com"}, ORDER]
    results = map_records(DISTRIBUTED_IMPORT, orders, FakeNetSuite())
    assert [result.record is not None for result in results] == [True, False, True]
    assert results[1].errors == (
        {
            "code": "lookup_failed",
            "message": "Lookup 'customerLookup' found no match for 'nobody@example.com'.",
            "source": "mapping",
            "field": "entity",
        },
    )


def test_seed_000_unknown_item_names_the_list_line_in_the_error() -> None:
    order = {**ORDER, "order_lines": [*ORDER["order_lines"], {"sku": "NOPE", "price": 1}]}
    [result] = map_records(DISTRIBUTED_IMPORT, [order], FakeNetSuite())
    assert result.record is None
    assert [error["field"] for error in result.errors] == ["item[3].item"]


#: Seed 000, "NetSuite (Non-Distributed) Adaptor Imports": POST /imports (mapping part).
WEB_SERVICES_IMPORT: dict[str, Any] = {
    "name": "NetSuite Order Import",
    "_connectionId": "5587092ed78228009a00000a",
    "netsuite": {
        "recordType": "SalesOrder",
        "operation": "addupdate",
        "lookups": [
            {
                "name": "customerLookup",
                "recordType": "Customer",
                "searchField": "email",
                "resultField": "internalId",
                "allowFailures": "false",
            },
            {
                "name": "currencyMap",
                "map": {"USA": "USD", "JAPAN": "JPY", "UK": "GDP"},
                "allowFailures": "false",
            },
            {
                "name": "itemLookup",
                "recordType": "Item",
                "searchField": "itemId",
                "resultField": "internalId",
                "allowFailures": "false",
            },
        ],
    },
    "mapping": {
        "fields": [
            {"extract": "city", "generate": "billingAddress.city"},
            {"extract": "zip", "generate": "billingAddress.zip"},
            {"extract": "{first_name} {last_name}", "generate": "billingAddress.addressee"},
            {"generate": "isMultiShipTo", "hardCodedValue": False},
            {"generate": "custbody_source", "hardCodedValue": "webstore"},
            {"extract": "email", "generate": "entity", "lookupName": "customerLookup"},
            {"extract": "country", "generate": "currency", "lookupName": "currencyMap"},
        ],
        "lists": [
            {
                "generate": "SalesOrderItem",
                "fields": [
                    {
                        "extract": "order_lines[*].sku",
                        "generate": "item",
                        "lookupName": "itemLookup",
                    },
                    {"extract": "order_lines[*].price", "generate": "rate"},
                    {"extract": "order_lines[*].quantity", "generate": "quantity"},
                    {"extract": "shipments[*].ship_via", "generate": "shipMethod"},
                    {"extract": "shipments[*].weight", "generate": "custcolumn_weight"},
                    {"extract": "tax_percent", "generate": "taxRate1"},
                    {"extract": "is_taxable", "generate": "isTaxable"},
                ],
            }
        ],
    },
}


class FakeWebServices(FakeNetSuite):
    """Web services spell record types and fields in camel case."""

    def lookup(self, lookup: dict[str, Any], value: Any, record: dict[str, Any]) -> Any:
        lowered = {
            **lookup,
            "recordType": lookup["recordType"].lower(),
            "searchField": lookup["searchField"].lower(),
            "resultField": "internalid",
        }
        return super().lookup(lowered, value, record)


def test_seed_000_web_services_order_writes_nested_billing_address_and_a_named_list() -> None:
    [result] = map_records(WEB_SERVICES_IMPORT, [ORDER], FakeWebServices())
    assert result.errors == ()
    assert result.record == {
        "billingAddress": {"city": "London", "zip": "N1 9GU", "addressee": "Ada Lovelace"},
        "isMultiShipTo": False,
        "custbody_source": "webstore",
        "entity": "1044",
        "currency": "GDP",
        "SalesOrderItem": [
            {
                "item": "501",
                "rate": 9.5,
                "quantity": 2,
                "shipMethod": "UPS",
                "custcolumn_weight": 1.2,
                "taxRate1": 8.25,
                "isTaxable": True,
            },
            {
                "item": "502",
                "rate": 20,
                "quantity": 1,
                "shipMethod": "FedEx",
                "custcolumn_weight": 0.4,
                "taxRate1": 8.25,
                "isTaxable": True,
            },
            {"item": "503", "rate": 3.25, "quantity": 4, "taxRate1": 8.25, "isTaxable": True},
        ],
    }


#: Seed 000, "REST API Adaptor Imports": the simple customer import.
REST_CUSTOMER_IMPORT: dict[str, Any] = {
    "name": "REST API Sample Post",
    "_connectionId": "5587092ed7822800000d0c0a",
    "rest": {"relativeURI": "customers", "method": "POST"},
    "mapping": {
        "fields": [
            {"extract": "street1", "generate": "billingAddress.addr1"},
            {"extract": "street2", "generate": "billingAddress.addr2"},
            {"extract": "city", "generate": "billingAddress.city"},
            {"extract": "state", "generate": "billingAddress.state"},
            {"extract": "zip", "generate": "billingAddress.zip"},
            {"extract": "{first_name} {last_name}", "generate": "billingAddress.addressee"},
        ]
    },
}


def test_seed_000_rest_customer_import_builds_the_billing_address() -> None:
    customers = [
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "street1": "1 Navy Way",
            "street2": "Suite 9",
            "city": "Arlington",
            "state": "VA",
            "zip": "22201",
            "phone": "555-0100",
        },
        {"first_name": "Alan", "street1": "2 Bletchley Park", "city": "Milton Keynes"},
    ]
    results = map_records(REST_CUSTOMER_IMPORT, customers)
    assert [result.record for result in results] == [
        {
            "billingAddress": {
                "addr1": "1 Navy Way",
                "addr2": "Suite 9",
                "city": "Arlington",
                "state": "VA",
                "zip": "22201",
                "addressee": "Grace Hopper",
            }
        },
        # Missing fields are left out; a missing template value renders as "".
        {
            "billingAddress": {
                "addr1": "2 Bletchley Park",
                "city": "Milton Keynes",
                "addressee": "Alan ",
            }
        },
    ]


#: Seed 000, "Composite Add or Update Import": the mapping, with ``rest.lookups``.
REST_COMPOSITE_IMPORT: dict[str, Any] = {
    "name": "Composite Add or Update Import",
    "_connectionId": "5587092ed78228000000000a",
    "rest": {
        "relativeURI": ["customers/{idLookup}", "customers"],
        "method": ["PUT", "POST"],
        "lookups": [
            {
                "name": "idLookup",
                "relativeURI": "customers?ns_id={internalId}",
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
            {"extract": "billingAddress.city", "generate": "city"},
            {"extract": "billingAddress.zip", "generate": "zip"},
            {"extract": "{firstName} {lastName}", "generate": "addressee"},
            {"generate": "opt_out", "hardCodedValue": False},
            {"generate": "source", "hardCodedValue": "phone"},
            {
                "extract": "billingAddress.country",
                "generate": "currency",
                "lookupName": "currencyMap",
            },
        ]
    },
}


def test_seed_000_composite_import_reads_nested_fields_and_uses_its_rest_lookups() -> None:
    customer = {
        "internalId": "77",
        "firstName": "Margaret",
        "lastName": "Hamilton",
        "billingAddress": {"city": "Boston", "zip": "02139", "country": "USA"},
    }
    [result] = map_records(REST_COMPOSITE_IMPORT, [customer])
    assert result == MapResult(
        {
            "city": "Boston",
            "zip": "02139",
            "addressee": "Margaret Hamilton",
            "opt_out": False,
            "source": "phone",
            "currency": "USD",
        }
    )


def test_numeric_path_parts_index_arrays_like_a_lookup_response() -> None:
    mapping = {
        "fields": [
            {"extract": "data.0.id", "generate": "id"},
            {"extract": "data[1].id", "generate": "second"},
            {"extract": "data.5.id", "generate": "absent"},
            {"extract": "[first name]", "generate": "first"},
        ]
    }
    record = {"data": [{"id": 10}, {"id": 11}], "first name": "Ada"}
    assert mapped(mapping, record) == {"id": 10, "second": 11, "first": "Ada"}


# --- fields and templates ------------------------------------------------------------------


def test_without_a_mapping_the_record_passes_through_unchanged() -> None:
    record = {"a": 1, "nested": {"b": [1, 2]}}
    mappings: list[dict[str, Any] | None] = [
        None,
        {},
        {"fields": []},
        {"fields": [], "lists": []},
        {"fieldMapping": []},
    ]
    for mapping in mappings:
        result = compile_mapping(mapping).map(record)
        assert result.record is record
        assert result.errors == ()


def test_with_a_mapping_only_mapped_fields_are_output() -> None:
    assert mapped({"fields": [{"extract": "a", "generate": "a"}]}, {"a": 1, "b": 2}) == {"a": 1}


def test_hard_coded_values_keep_their_json_type_and_are_not_shared_between_records() -> None:
    mapping = {
        "fields": [
            {"generate": "flag", "hardCodedValue": False},
            {"generate": "count", "hardCodedValue": 0},
            {"generate": "nothing", "hardCodedValue": None},
            {"generate": "tags", "hardCodedValue": ["a"]},
        ]
    }
    mapper = compile_mapping(mapping)
    first, second = mapper.map({}).record, mapper.map({}).record
    assert first == {"flag": False, "count": 0, "nothing": None, "tags": ["a"]}
    assert first is not None and second is not None
    first["tags"].append("b")
    assert second["tags"] == ["a"]


def test_templates_keep_literal_text_and_render_missing_and_null_values_empty() -> None:
    mapping = {
        "fields": [
            {"extract": "Issue-{id}: *{name}*  {message}", "generate": "message"},
            {"extract": "{a.b}/{n}/{f}/{t}/{missing}/{nil}", "generate": "mixed"},
            {"extract": "{ id }", "generate": "spaced"},
        ]
    }
    record = {
        "id": 7,
        "name": "x",
        "message": "y",
        "a": {"b": "B"},
        "n": 1e21,
        "f": 1.5,
        "t": True,
        "nil": None,
    }
    assert mapped(mapping, record) == {
        "message": "Issue-7: *x*  y",
        "mixed": "B/1e+21/1.5/true//",
        "spaced": "7",
    }


def test_a_later_field_replaces_an_earlier_value_on_the_same_path() -> None:
    mapping = {
        "fields": [
            {"extract": "a", "generate": "x"},
            {"extract": "b", "generate": "x.y"},
            {"extract": "c", "generate": "x.z"},
        ]
    }
    assert mapped(mapping, {"a": 1, "b": 2, "c": 3}) == {"x": {"y": 2, "z": 3}}


def test_discard_if_empty_drops_empty_values_but_keeps_zero_and_false() -> None:
    fields = [
        {"extract": key, "generate": key, "discardIfEmpty": True}
        for key in ("empty", "null", "list", "object", "zero", "false", "text", "missing")
    ]
    record: dict[str, Any] = {
        "empty": "",
        "null": None,
        "list": [],
        "object": {},
        "zero": 0,
        "false": False,
        "text": "t",
    }
    assert mapped({"fields": fields}, record) == {"zero": 0, "false": False, "text": "t"}


def test_immutable_fields_are_set_on_create_and_left_alone_on_update() -> None:
    mapping = {
        "fields": [
            {"extract": "id", "generate": "externalId", "immutable": True},
            {"extract": "name", "generate": "name"},
        ]
    }
    record = {"id": "E1", "name": "Ada"}
    assert mapped(mapping, record, operation="create") == {"externalId": "E1", "name": "Ada"}
    assert mapped(mapping, record, operation="update") == {"name": "Ada"}


def test_record_created_and_record_updated_conditions_follow_the_operation() -> None:
    mapping = {
        "fields": [
            {"extract": "a", "generate": "onCreate", "conditional": {"when": "record_created"}},
            {"extract": "a", "generate": "onUpdate", "conditional": {"when": "record_updated"}},
            {
                "extract": "a",
                "generate": "never",
                "immutable": True,
                "conditional": {"when": "record_updated"},
            },
        ]
    }
    assert mapped(mapping, {"a": 1}, operation="create") == {"onCreate": 1}
    assert mapped(mapping, {"a": 1}, operation="update") == {"onUpdate": 1}


def test_extract_not_empty_maps_only_non_empty_source_values() -> None:
    mapping = {
        "fields": [
            {
                "extract": "phone",
                "generate": "phone",
                "dataType": "string",
                "conditional": {"when": "extract_not_empty"},
            }
        ]
    }
    assert mapped(mapping, {"phone": 5550100}) == {"phone": "5550100"}
    assert mapped(mapping, {"phone": ""}) == {}
    assert mapped(mapping, {"phone": None}) == {}
    assert mapped(mapping, {}) == {}


def test_lookup_conditions_map_a_field_depending_on_what_a_lookup_finds() -> None:
    lookups = [{"name": "vip", "map": {"ada@example.com": "gold"}}]
    mapping = {
        "fields": [
            {
                "extract": "email",
                "generate": "vipEmail",
                "conditional": {"when": "lookup_not_empty", "lookupName": "vip"},
            },
            {
                "extract": "email",
                "generate": "plainEmail",
                "conditional": {"when": "lookup_empty", "lookupName": "vip"},
            },
        ]
    }
    ada, bob = {"email": "ada@example.com"}, {"email": "bob@example.com"}
    assert mapped(mapping, ada, lookups=lookups) == {"vipEmail": "ada@example.com"}
    assert mapped(mapping, bob, lookups=lookups) == {"plainEmail": "bob@example.com"}


def test_ignore_if_set_keeps_a_value_already_set_earlier_or_on_the_target_record() -> None:
    mapping = {
        "fields": [
            {"extract": "nickname", "generate": "name"},
            {"extract": "full_name", "generate": "name", "conditional": {"when": "ignore_if_set"}},
            {"extract": "phone", "generate": "phone", "conditional": {"when": "ignore_if_set"}},
        ]
    }
    record = {"nickname": "Ada", "full_name": "Ada Lovelace", "phone": "555"}
    assert mapped(mapping, record) == {"name": "Ada", "phone": "555"}
    existing = {"phone": "999"}
    assert mapped(mapping, {"full_name": "Ada Lovelace", "phone": "555"}, existing=existing) == {
        "name": "Ada Lovelace"
    }


# --- lists ---------------------------------------------------------------------------------


def test_list_lines_pair_two_arrays_by_index_up_to_the_longest() -> None:
    mapping = {
        "lists": [
            {
                "generate": "lines",
                "fields": [
                    {"extract": "a[*].x", "generate": "x"},
                    {"extract": "b[*].y", "generate": "y"},
                    {"extract": "constant", "generate": "c"},
                ],
            }
        ]
    }
    record = {"a": [{"x": 1}], "b": [{"y": 1}, {"y": 2}, {}], "constant": "k"}
    assert mapped(mapping, record) == {
        "lines": [{"x": 1, "y": 1, "c": "k"}, {"y": 2, "c": "k"}, {"c": "k"}]
    }


def test_a_list_generate_path_with_dots_writes_a_nested_array() -> None:
    mapping = {
        "lists": [
            {
                "generate": "sublists.item",
                "fields": [
                    {"extract": "lines[*]", "generate": "value"},
                    {"extract": "lines[*].missing", "generate": "gone"},
                ],
            }
        ]
    }
    assert mapped(mapping, {"lines": ["a", "b"]}) == {
        "sublists": {"item": [{"value": "a"}, {"value": "b"}]}
    }


def test_a_list_whose_arrays_are_absent_is_omitted_and_an_empty_array_gives_an_empty_list() -> None:
    mapping = {
        "lists": [{"generate": "item", "fields": [{"extract": "lines[*].sku", "generate": "sku"}]}]
    }
    assert mapped(mapping, {}) == {}
    assert mapped(mapping, {"lines": "not an array"}) == {}
    assert mapped(mapping, {"lines": []}) == {"item": []}


def test_a_single_object_where_an_array_was_expected_is_one_line() -> None:
    mapping = {
        "lists": [{"generate": "item", "fields": [{"extract": "lines[*].sku", "generate": "sku"}]}]
    }
    assert mapped(mapping, {"lines": {"sku": "A"}}) == {"item": [{"sku": "A"}]}


def test_a_list_without_array_fields_has_one_line() -> None:
    mapping = {"lists": [{"generate": "item", "fields": [{"extract": "sku", "generate": "sku"}]}]}
    assert mapped(mapping, {"sku": "A"}) == {"item": [{"sku": "A"}]}


def test_list_fields_convert_template_and_look_up_per_line() -> None:
    lookups = [{"name": "uom", "map": {"ea": "Each", "bx": "Box"}, "default": "Each"}]
    mapping = {
        "lists": [
            {
                "generate": "item",
                "fields": [
                    {"extract": "lines[*].qty", "generate": "quantity", "dataType": "number"},
                    {"extract": "{lines[*].sku}-{lines[*].size} ({order})", "generate": "code"},
                    {"extract": "lines[*].unit", "generate": "units", "lookupName": "uom"},
                    {"extract": "lines[*].note", "generate": "memo", "discardIfEmpty": True},
                ],
            }
        ]
    }
    record = {
        "order": "SO1",
        "lines": [
            {"qty": "2", "sku": "A", "size": "L", "unit": "bx", "note": ""},
            {"qty": "x", "sku": "B", "unit": "kg", "note": "fragile"},
        ],
    }
    assert mapped(mapping, record, lookups=lookups) == {
        "item": [
            {"quantity": 2, "code": "A-L (SO1)", "units": "Box"},
            {"quantity": 0, "code": "B- (SO1)", "units": "Each", "memo": "fragile"},
        ]
    }


def test_an_array_path_outside_a_list_collects_every_value() -> None:
    mapping = {"fields": [{"extract": "lines[*].sku", "generate": "skus"}]}
    assert mapped(mapping, {"lines": [{"sku": "A"}, {}, {"sku": "B"}]}) == {"skus": ["A", "B"]}


# --- lookups -------------------------------------------------------------------------------


def currency_mapping(**lookup: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mapping = {
        "fields": [{"extract": "country", "generate": "currency", "lookupName": "currencyMap"}]
    }
    return mapping, [{"name": "currencyMap", "map": {"USA": "USD", "1": "one"}, **lookup}]


@pytest.mark.parametrize(
    ("lookup", "record", "expected"),
    [
        ({}, {"country": "USA"}, {"currency": "USD"}),
        ({}, {"country": 1}, {"currency": "one"}),
        ({"default": "EUR"}, {"country": "FR"}, {"currency": "EUR"}),
        ({"default": "EUR", "allowFailures": "false"}, {}, {"currency": "EUR"}),
        ({"allowFailures": True}, {"country": "FR"}, {}),
        ({"allowFailures": "true"}, {"country": "FR"}, {}),
    ],
)
def test_static_lookups_translate_then_use_the_default_then_allow_failures(
    lookup: dict[str, Any], record: dict[str, Any], expected: dict[str, Any]
) -> None:
    mapping, lookups = currency_mapping(**lookup)
    assert mapped(mapping, record, lookups=lookups) == expected


@pytest.mark.parametrize("allow_failures", [None, False, "false", "no"])
def test_a_static_lookup_without_a_match_default_or_allowed_failures_is_a_record_error(
    allow_failures: Any,
) -> None:
    mapping, lookups = currency_mapping(allowFailures=allow_failures)
    result = compile_mapping(mapping, lookups).map({"country": "FR"})
    assert result == MapResult(
        None,
        (
            {
                "code": "lookup_failed",
                "message": "Lookup 'currencyMap' found no match for 'FR'.",
                "source": "mapping",
                "field": "currency",
            },
        ),
    )


class Directory:
    """A provider answering from a dict, or failing the way a real one can."""

    def __init__(self, answers: dict[str, Any], crash: bool = False) -> None:
        self.answers, self.crash = answers, crash

    def lookup(self, lookup: dict[str, Any], value: Any, record: dict[str, Any]) -> Any:
        if self.crash:
            raise ConnectionError("connection reset by peer")
        if value not in self.answers:
            raise LookupFailure(value)
        return self.answers[value]


def dynamic(**lookup: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mapping = {"fields": [{"extract": "email", "generate": "id", "lookupName": "byEmail"}]}
    definition = {"name": "byEmail", "relativeURI": "customers?email={email}", "extract": "0.id"}
    return mapping, [{**definition, **lookup}]


def test_dynamic_lookups_are_delegated_to_the_provider_with_the_same_failure_policy() -> None:
    provider = Directory({"ada@example.com": 7})
    mapping, lookups = dynamic()
    assert mapped(mapping, {"email": "ada@example.com"}, lookups=lookups, provider=provider) == {
        "id": 7
    }
    mapping, lookups = dynamic(default=0)
    assert mapped(mapping, {"email": "bob@example.com"}, lookups=lookups, provider=provider) == {
        "id": 0
    }
    mapping, lookups = dynamic(allowFailures="true")
    assert mapped(mapping, {"email": "bob@example.com"}, lookups=lookups, provider=provider) == {}
    mapping, lookups = dynamic()
    result = compile_mapping(mapping, lookups).map({"email": "bob@example.com"}, provider=provider)
    assert [error["code"] for error in result.errors] == ["lookup_failed"]


def test_a_provider_that_crashes_fails_that_record_and_not_the_page() -> None:
    mapping, lookups = dynamic()
    import_doc = {"mapping": mapping, "http": {"lookups": lookups}}
    results = map_records(import_doc, [{"email": "a"}, {"email": "b"}], Directory({}, crash=True))
    assert [result.errors for result in results] == [
        (
            {
                "code": "lookup_error",
                "message": "Lookup 'byEmail' failed: connection reset by peer",
                "source": "mapping",
                "field": "id",
            },
        )
    ] * 2


def test_a_dynamic_lookup_without_a_provider_is_a_record_error() -> None:
    mapping, lookups = dynamic()
    result = compile_mapping(mapping, lookups).map({"email": "a"})
    assert result.record is None
    assert [error["code"] for error in result.errors] == ["lookup_unavailable"]


def test_lookups_are_found_at_the_top_level_and_in_any_adaptor_block() -> None:
    mapping = {
        "fields": [
            {"extract": "a", "generate": "top", "lookupName": "top"},
            {"extract": "a", "generate": "rest", "lookupName": "rest"},
            {"extract": "a", "generate": "netsuite", "lookupName": "ns"},
        ]
    }
    import_doc = {
        "mapping": mapping,
        "lookups": [{"name": "top", "map": {"k": 1}}],
        "rest": {"lookups": [{"name": "rest", "map": {"k": 2}}]},
        "netsuite": {"lookups": [{"name": "ns", "map": {"k": 3}}]},
    }
    assert compile_import(import_doc).map({"a": "k"}).record == {"top": 1, "rest": 2, "netsuite": 3}


# --- errors and compile-time checks --------------------------------------------------------


def test_every_failing_field_of_a_record_is_reported_together() -> None:
    mapping = {
        "fields": [
            {"extract": "when", "generate": "date", "dataType": "date"},
            {"extract": "country", "generate": "currency", "lookupName": "currencyMap"},
            {"extract": "name", "generate": "name"},
        ]
    }
    lookups = [{"name": "currencyMap", "map": {}}]
    result = compile_mapping(mapping, lookups).map({"when": "soon", "country": "X", "name": "n"})
    assert result.record is None
    assert [(error["code"], error["field"]) for error in result.errors] == [
        ("invalid_date", "date"),
        ("lookup_failed", "currency"),
    ]
    assert all(error["source"] == "mapping" for error in result.errors)


def test_a_record_that_is_not_an_object_is_an_error_of_its_own() -> None:
    page: list[Any] = [{"a": 1}, [1], {"a": 2}]
    results = map_records({"mapping": {"fields": [{"extract": "a", "generate": "a"}]}}, page)
    assert [result.record for result in results] == [{"a": 1}, None, {"a": 2}]
    assert results[1].errors[0]["code"] == "invalid_record"


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"fields": [{"extract": "a"}]}, "mapping.fields.0.generate"),
        ({"fields": ["a"]}, "mapping.fields.0"),
        ({"fields": [{"extract": 5, "generate": "a"}]}, "mapping.fields.0.extract"),
        (
            {"fields": [{"extract": "a", "generate": "a", "lookupName": "nope"}]},
            "mapping.fields.0.lookupName",
        ),
        (
            {"fields": [{"extract": "a", "generate": "a", "conditional": {"when": "sometimes"}}]},
            "mapping.fields.0.conditional.when",
        ),
        (
            {
                "fields": [
                    {"extract": "a", "generate": "a", "conditional": {"when": "lookup_empty"}}
                ]
            },
            "mapping.fields.0.conditional.lookupName",
        ),
        ({"lists": [{"fields": []}]}, "mapping.lists.0.generate"),
        (
            {"lists": [{"generate": "l", "fields": [{"extract": "a[*]"}]}]},
            "mapping.lists.0.fields.0.generate",
        ),
    ],
)
def test_a_mapping_that_cannot_run_is_rejected_when_compiled_with_the_setting_path(
    mapping: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        compile_mapping(mapping)
    assert raised.value.items[0].field == field


def test_a_mapping_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValidationFailed) as raised:
        compile_mapping(["fields"])  # type: ignore[arg-type]
    assert raised.value.items[0].field == "mapping"


def test_no_mapping_text_becomes_code() -> None:
    """Keys that look like Python stay data: they are bound as constants, never spliced in."""
    hostile = "'; raise SystemExit(1); x = '"
    mapping = {"fields": [{"extract": hostile, "generate": f"{hostile}\n#"}]}
    mapper = compile_mapping(mapping)
    assert "SystemExit" not in mapper.source
    assert mapped(mapping, {hostile: 1}) == {f"{hostile}\n#": 1}


# --- properties ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=10,
)
keys = st.text(alphabet="abcdefghij_ABC", min_size=1, max_size=6)
paths = st.lists(keys, min_size=1, max_size=4)


@given(json_values)
def test_any_json_value_survives_an_identity_mapping(value: Any) -> None:
    assert mapped({"fields": [{"extract": "v", "generate": "v"}]}, {"v": value}) == {"v": value}


@given(paths, paths, json_values)
def test_mapping_there_and_back_along_dot_paths_returns_the_original_value(
    source: list[str], target: list[str], value: Any
) -> None:
    record: dict[str, Any] = {}
    holder = record
    for key in source[:-1]:
        holder = holder.setdefault(key, {})
    holder[source[-1]] = value
    there = {"fields": [{"extract": ".".join(source), "generate": ".".join(target)}]}
    back = {"fields": [{"extract": ".".join(target), "generate": ".".join(source)}]}
    assert mapped(back, mapped(there, record)) == record


@given(st.lists(st.dictionaries(keys, json_values, max_size=3), max_size=5))
def test_a_list_maps_one_line_per_array_element(lines: list[dict[str, Any]]) -> None:
    mapping = {"lists": [{"generate": "out", "fields": [{"extract": "in[*]", "generate": "line"}]}]}
    assert mapped(mapping, {"in": lines}) == {"out": [{"line": line} for line in lines]}


# --- docs/mapping.md -----------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"


def doc_examples() -> list[dict[str, Any]]:
    """The JSON examples of docs/mapping.md before its Templates section."""
    text = DOCS.read_text().split("\n## Templates")[0]
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, re.S)]
    return [block for block in blocks if "mapping" in block and "record" in block]


def test_every_example_in_the_mapping_docs_gives_the_documented_result() -> None:
    examples = doc_examples()
    assert len(examples) >= 9
    for example in examples:
        mapper = compile_mapping(example["mapping"], example.get("lookups", []))
        result = mapper.map(
            example["record"],
            operation=example.get("operation", "create"),
            existing=example.get("existing"),
        )
        if "errors" in example:
            assert result == MapResult(None, tuple(example["errors"])), example
        else:
            assert result == MapResult(example["result"]), example


def test_a_handlebars_extract_renders_against_the_record_unescaped() -> None:
    mapper = compile_mapping(
        {
            "fields": [
                {"extract": "{{uppercase name}}", "generate": "upper"},
                {"extract": "{{name}} & {{id}}", "generate": "both"},
                {"extract": "{{#if vip}}gold{{else}}standard{{/if}}", "generate": "tier"},
            ]
        }
    )
    result = mapper.map({"name": "Ada <Lovelace>", "id": 7, "vip": True})
    assert result.record == {
        "upper": "ADA <LOVELACE>",
        "both": "Ada <Lovelace> & 7",
        "tier": "gold",
    }
