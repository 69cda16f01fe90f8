"""``/v1/flows``: exports (page generators) feeding a sequence of page processors, on a schedule.

Reference §5. A flow is either the legacy single pair (``_exportId`` + ``_importId``) or
``pageGenerators[]`` + ``pageProcessors[]`` (or ``routers[]`` for branching). ``schedule`` is
integrator.io's 6-field cron (see ``cron``), read in ``timezone``; each page generator may
override it with its own ``schedule``.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from integrator.errors import ValidationFailed
from integrator.resources.base import Block, Document, ResourceType, register
from integrator.resources.cron import parse_schedule
from integrator.resources.exports import HookRef, check_hooks
from integrator.resources.imports import MappingField, MappingList


class PageGenerator(Block):
    """An export that produces pages for this flow."""

    export_id: str = Field(alias="_exportId")
    schedule: str | None = None
    skipRetries: bool | None = None
    setupInProgress: bool | None = None
    keep_delta_behind_flow_id: str | None = Field(default=None, alias="_keepDeltaBehindFlowId")
    keep_delta_behind_export_id: str | None = Field(default=None, alias="_keepDeltaBehindExportId")
    id: str | None = Field(default=None, alias="_id")


class ResponseMapping(Block):
    """Copies fields of a step's response (``id``, ``statusCode``, ``data``) into the record."""

    fields_: list[MappingField] | None = Field(default=None, alias="fields")
    lists: list[MappingList] | None = None


class ProcessorHooks(Block):
    postResponseMap: HookRef | None = None


class PageProcessor(Block):
    """One step: a lookup (``type: export``) or an import; steps run in order."""

    type: Literal["export", "import"]
    export_id: str | None = Field(default=None, alias="_exportId")
    import_id: str | None = Field(default=None, alias="_importId")
    proceedOnFailure: bool | None = None
    responseMapping: ResponseMapping | None = None
    hooks: ProcessorHooks | None = None
    setupInProgress: bool | None = None


class Flow(Document):
    """``/v1/flows``. Without ``schedule`` a flow runs on demand or when a webhook receives data."""

    disabled: bool | None = None
    schedule: str | None = None
    timezone: str | None = None
    skipRetries: bool | None = None
    runPageGeneratorsInParallel: bool | None = None
    free: bool | None = None
    logging: Any = None
    sandbox: bool | None = None
    aliases: list[Any] | None = None
    flow_grouping_id: str | None = Field(default=None, alias="_flowGroupingId")
    run_next_flow_ids: list[str] | None = Field(default=None, alias="_runNextFlowIds")
    #: Legacy single export → import pair.
    export_id: str | None = Field(default=None, alias="_exportId")
    import_id: str | None = Field(default=None, alias="_importId")
    pageGenerators: list[PageGenerator] | None = None
    pageProcessors: list[PageProcessor] | None = None
    #: Branching (reference §5); kept loosely typed, its processors are checked like the others.
    routers: list[dict[str, Any]] | None = None


def check_schedule(value: Any, field: str) -> None:
    """``invalid_field`` naming ``field`` unless ``value`` is an integrator.io schedule."""
    try:
        parse_schedule(value)
    except ValueError as exc:
        raise ValidationFailed.one("invalid_field", str(exc), field) from None


def check_timezone(value: Any, field: str = "timezone") -> None:
    """``invalid_field`` unless ``value`` is an IANA zone name (``America/Los_Angeles``)."""
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, TypeError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValidationFailed.one(
            "invalid_field",
            f"Unknown time zone {value!r}; use an IANA name such as America/New_York.",
            field,
        ) from None


def _check_processors(processors: Any, prefix: str) -> None:
    """Each step names the resource its ``type`` says it runs."""
    if not isinstance(processors, list):
        return
    for index, step in enumerate(processors):
        path = f"{prefix}.{index}"
        if not isinstance(step, dict):
            raise ValidationFailed.one("invalid_field", "A page processor is an object.", path)
        kind = step.get("type")
        if kind not in ("export", "import"):
            raise ValidationFailed.one(
                "invalid_field", "A page processor's type is 'export' or 'import'.", f"{path}.type"
            )
        id_field = "_exportId" if kind == "export" else "_importId"
        if not step.get(id_field):
            raise ValidationFailed.one(
                "missing_required_field",
                f"A page processor of type '{kind}' needs {id_field}.",
                f"{path}.{id_field}",
            )
        check_hooks(step.get("hooks"), f"{path}.hooks")


def _check_flow(doc: dict[str, Any]) -> None:
    """Schedules parse, the zone exists, and every step names what it runs."""
    if doc.get("schedule") is not None:
        check_schedule(doc["schedule"], "schedule")
    if doc.get("timezone") is not None:
        check_timezone(doc["timezone"])
    for index, generator in enumerate(doc.get("pageGenerators") or []):
        if generator.get("schedule") is not None:
            check_schedule(generator["schedule"], f"pageGenerators.{index}.schedule")
    _check_processors(doc.get("pageProcessors"), "pageProcessors")
    routers = doc.get("routers") or []
    if routers and doc.get("pageProcessors"):
        raise ValidationFailed.one(
            "invalid_field", "A flow uses pageProcessors or routers, not both.", "routers"
        )
    for r_index, router in enumerate(routers):
        for b_index, branch in enumerate(router.get("branches") or []):
            if isinstance(branch, dict):
                _check_processors(
                    branch.get("pageProcessors"),
                    f"routers.{r_index}.branches.{b_index}.pageProcessors",
                )


FLOWS = register(
    ResourceType(
        "flows",
        Flow,
        check=_check_flow,
        patchable=frozenset(
            {
                "name",
                "description",
                "schedule",
                "timezone",
                "disabled",
                "runPageGeneratorsInParallel",
                "pageGenerators",
                "routers",
                "aliases",
                "_runNextFlowIds",
                "skipRetries",
            }
        ),
    )
)
