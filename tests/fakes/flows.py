"""The REST → mapping → REST flow tests and benchmarks build: Stripe-style cursor paging out of
the fake app, one POST per record into its customers endpoint."""

from __future__ import annotations

from typing import Any

from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService

MAPPING = {
    "fields": [
        {"extract": "id", "generate": "external_id"},
        {"extract": "email", "generate": "email"},
        {"extract": "name", "generate": "full_name"},
    ]
}


def stripe_export(page_size: int) -> dict[str, Any]:
    """An export's ``http`` block paging ``/stripe/items`` with ``starting_after``."""
    return {
        "relativeURI": f"/stripe/items?limit={page_size}",
        "response": {"resourcePath": "data"},
        "paging": {
            "method": "relativeuri",
            "relativeURI": f"/stripe/items?limit={page_size}"
            "&starting_after={{previous_page.last_record.id}}",
            "lastPagePath": "has_more",
            "lastPageValues": ["false"],
        },
    }


def create_rest_flow(
    service: ResourceService,
    base_url: str,
    page_size: int = 100,
    mapping: dict[str, Any] | None = None,
    name: str = "Items to customers",
) -> dict[str, Any]:
    """Connection, export, import and flow through ``service``; the flow document."""
    connection = service.create(
        REGISTRY["connections"],
        {"name": "Fake", "type": "http", "http": {"baseURI": base_url, "mediaType": "json"}},
    )
    export = service.create(
        REGISTRY["exports"],
        {
            "name": "Items",
            "_connectionId": connection["_id"],
            "pageSize": page_size,
            "http": stripe_export(page_size),
        },
    )
    imp = service.create(
        REGISTRY["imports"],
        {
            "name": "Customers",
            "_connectionId": connection["_id"],
            "http": {"relativeURI": "/api/customers", "method": "POST"},
            "mapping": mapping or MAPPING,
        },
    )
    return service.create(
        REGISTRY["flows"],
        {
            "name": name,
            "pageGenerators": [{"_exportId": export["_id"]}],
            "pageProcessors": [{"type": "import", "_importId": imp["_id"]}],
        },
    )
