"""``/v1/exports``: where data comes from — a query, a paged API, files, or a webhook listener.

Reference §2.2 and §3. Two generations are accepted side by side: the legacy ``rest`` block with
``rest.pagingMethod`` and ``hooks._preSavePageId``, and the modern ``http`` block with
``http.paging`` and ``hooks.preSavePage: {_scriptId|_stackId, function}``. The NetSuite
distributed (realtime) configuration is a sub-document (``/exports/{id}/distributed``), so only
``distributed.bearerToken`` lives on the export itself.

``HookRef`` and ``check_hooks`` are shared with imports and flows, which wire hooks the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from integrator.errors import ValidationFailed
from integrator.resources.base import Block, Document, ResourceType, register
from integrator.resources.connections import NameValue
from integrator.store.secrets import MASK

ExportType = Literal[
    "webhook", "distributed", "test", "delta", "once", "tranlinedelta", "simple", "blob", "stream"
]

#: Export types that have no connection: the data is pushed to us.
CONNECTIONLESS_TYPES = frozenset({"webhook", "simple"})


class HookRef(Block):
    """One hook: an in-platform script (``_scriptId``) or a stack function (``_stackId``).

    NetSuite distributed hooks name SuiteScript files instead (``fileInternalId``); those are
    kept as unknown fields. Values may be null: integrator.io drops a hook sent as all nulls.
    """

    script_id: str | None = Field(default=None, alias="_scriptId")
    stack_id: str | None = Field(default=None, alias="_stackId")
    function: str | None = None
    configuration: dict[str, Any] | None = None


def check_hooks(hooks: Any, prefix: str = "hooks") -> None:
    """Each wired hook names exactly one host (script or stack) and the function to call."""
    if not isinstance(hooks, dict):
        return
    for name, hook in hooks.items():
        if not isinstance(hook, dict):
            continue
        hosts = [key for key in ("_scriptId", "_stackId") if hook.get(key)]
        if len(hosts) > 1:
            raise ValidationFailed.one(
                "invalid_field",
                "A hook runs either a script (_scriptId) or a stack function (_stackId), not both.",
                f"{prefix}.{name}._stackId",
            )
        if hosts and not hook.get("function"):
            raise ValidationFailed.one(
                "missing_required_field",
                f"{prefix}.{name}.function names the function to call.",
                f"{prefix}.{name}.function",
            )


class ExportHooks(Block):
    preSavePage: HookRef | None = None
    #: Legacy form: the id of a hook record (D16/D17).
    pre_save_page_id: str | None = Field(default=None, alias="_preSavePageId")


class ExportTestSettings(Block):
    #: Caps the total top-level records of a ``type: test`` run (reference §3.2).
    limit: int | None = Field(default=None, ge=1, le=100)


class DeltaSettings(Block):
    """``type: delta``: only records changed since the last successful run (reference §3.2)."""

    dateField: str | None = None
    dateFormat: str | None = None
    startDate: str | None = None
    #: Milliseconds subtracted from the cutoff so windows overlap (negative: look ahead).
    lagOffset: int | None = None
    endDateField: str | None = None


class OnceSettings(Block):
    booleanField: str | None = None


class ValueDeltaSettings(Block):
    exportedField: str | None = None
    pendingField: str | None = None


class RestExport(Block):
    """Legacy REST export (D17). ``pagingMethod`` names map onto the modern ``http.paging``."""

    relativeURI: str | None = None
    method: Literal["GET", "POST"] | None = None
    headers: list[NameValue] | None = None
    query: Any = None
    resourcePath: str | None = None
    postBody: Any = None
    pagingMethod: Literal["nextpageurl", "pageargument", "relativeuri", "linkheader"] | None = None
    nextPagePath: str | None = None
    pageArgument: str | None = None
    nextPageRelativeURI: str | None = None
    maxPagePath: str | None = None
    maxCountPath: str | None = None


class HttpPaging(Block):
    """How to fetch page 2 onwards (reference §3.3); the companion fields depend on ``method``."""

    method: Literal["linkheader", "page", "skip", "token", "url", "relativeuri", "body"]
    linkHeaderRelation: str | None = None
    page: int | None = None
    skip: int | None = None
    token: str | None = None
    path: str | None = None
    pathLocation: Literal["body", "header"] | None = None
    pathAfterFirstRequest: str | None = None
    relativeURI: str | None = None
    body: str | None = None
    resourcePath: str | None = None
    lastPageStatusCode: int | None = None
    lastPagePath: str | None = None
    lastPageValues: list[str] | None = None
    maxPagePath: str | None = None
    maxCountPath: str | None = None


class HttpResponse(Block):
    resourcePath: str | None = None
    resourceIdPath: str | None = None
    successPath: str | None = None
    successValues: list[str] | None = None
    errorPath: str | None = None
    failPath: str | None = None
    failValues: list[str] | None = None
    allowArrayforSuccessPath: bool | None = None
    twoDArray: dict[str, Any] | None = None
    blobFormat: str | None = None


class HttpOnce(Block):
    """The call that marks a record exported, rendered per record (``type: once``)."""

    relativeURI: str | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    body: str | None = None


class HttpExport(Block):
    """Modern HTTP export (reference §3.4); headers merge with and override the connection's."""

    type: Literal["file", "blob", "csvstream"] | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    relativeURI: str | None = None
    headers: list[NameValue] | None = None
    requestMediaType: Literal["json", "xml", "urlencoded", "form-data", "plaintext"] | None = None
    body: str | None = None
    successMediaType: Literal["json", "xml", "csv", "plaintext"] | None = None
    errorMediaType: Literal["json", "xml", "plaintext"] | None = None
    async_helper_id: str | None = Field(default=None, alias="_asyncHelperId")
    once: HttpOnce | None = None
    paging: HttpPaging | None = None
    response: HttpResponse | None = None
    sendAuthForFileDownloads: bool | None = None


WebhookProvider = Literal[
    "custom", "github", "shopify", "travis", "travis-org", "slack", "dropbox", "onfleet",
    "helpscout", "errorception", "box", "stripe", "aha", "jira", "pagerduty", "postmark",
    "mailchimp", "intercom", "activecampaign", "segment", "recurly", "shipwire", "surveymonkey",
    "parseur", "mailparser-io", "hubspot", "integrator-extension", "sapariba", "happyreturns",
    "typeform",
]  # fmt: skip


class WebhookSettings(Block):
    """A listener (reference §3.5). ``verify`` picks the check; ``provider`` is a UI preset."""

    provider: WebhookProvider | None = None
    verify: Literal["token", "hmac", "basic", "secret_url"] | None = None
    token: str | None = None
    tokenLocation: Literal["body", "header", "queryParam"] | None = None
    path: str | None = None
    tokenHeaderName: str | None = None
    tokenHeaderScheme: Literal["bearer", "custom", "none"] | None = None
    customTokenScheme: str | None = None
    tokenQueryParamName: str | None = None
    algorithm: Literal["sha1", "sha256", "sha384", "sha512"] | None = None
    encoding: Literal["hex", "base64"] | None = None
    key: str | None = None
    header: str | None = None
    username: str | None = None
    password: str | None = None
    requestMediaType: Literal["json", "xml", "csv", "urlencoded", "plaintext"] | None = None
    pathToRecords: str | None = None
    includeParentData: bool | None = None
    successStatusCode: int | None = Field(default=None, ge=200, le=299)
    successBody: str | None = None
    successMediaType: Literal["json", "xml", "plaintext"] | None = None
    successResponseHeaders: list[NameValue] | None = None
    challengeSuccessBody: str | None = None
    challengeSuccessStatusCode: int | None = None
    challengeSuccessMediaType: Literal["json", "xml", "plaintext"] | None = None
    challengeResponseHeaders: list[NameValue] | None = None
    #: Seconds a timestamped signature (stripe, slack, hubspot) may be old or early.
    tolerance: int | None = Field(default=None, ge=1, le=86400)
    #: Deliveries whose key (a header, or a dotted path in a JSON body) was seen within the
    #: window are acknowledged and not stored again.
    dedupeHeader: str | None = None
    dedupePath: str | None = None
    dedupeWindowSeconds: int | None = Field(default=None, ge=1, le=7 * 86400)
    #: Read-only: the listener's path (``GET`` shows it; a value sent is ignored).
    url: str | None = None


#: For each ``webhook.verify``, the fields without which no request could be verified.
WEBHOOK_NEEDS: dict[str, tuple[str, ...]] = {
    "hmac": ("key", "header"),
    "token": ("token",),
    "basic": ("username", "password"),
    "secret_url": ("token",),
}


class DistributedExport(Block):
    """The token the NetSuite/Salesforce side uses to push realtime records."""

    bearerToken: str | None = None


class NetSuiteExport(Block):
    type: str | None = None
    searches: list[dict[str, Any]] | None = None
    restlet: dict[str, Any] | None = None
    skipGrouping: bool | None = None
    statsOnly: bool | None = None


class FileExport(Block):
    encoding: str | None = None
    type: str | None = None
    output: str | None = None
    skipDelete: bool | None = None
    csv: dict[str, Any] | None = None


class FtpExport(Block):
    directoryPath: str | None = None
    fileNameStartsWith: str | None = None
    fileNameEndsWith: str | None = None


class S3Export(Block):
    region: str | None = None
    bucket: str | None = None
    fileNameStartsWith: str | None = None
    fileNameEndsWith: str | None = None


class Export(Document):
    """``/v1/exports``: absent ``type`` means "export everything" on each run."""

    connection_id: str | None = Field(default=None, alias="_connectionId")
    adaptorType: str | None = None
    type: ExportType | None = None
    asynchronous: bool | None = None
    pageSize: int | None = Field(default=None, ge=1, le=1000)
    preserveOrder: bool | None = None
    sampleData: Any = None
    mockOutput: dict[str, Any] | None = None
    test: ExportTestSettings | None = None
    delta: DeltaSettings | None = None
    once: OnceSettings | None = None
    valueDelta: ValueDeltaSettings | None = None
    isLookup: bool | None = None
    oneToMany: bool | None = None
    pathToMany: str | None = None
    filter: Any = None
    inputFilter: Any = None
    transform: Any = None
    hooks: ExportHooks | None = None
    settings: dict[str, Any] | None = None
    configuration: dict[str, Any] | None = None
    debugUntil: str | None = None
    draft: bool | None = None
    template_id: str | None = Field(default=None, alias="_templateId")
    source_id: str | None = Field(default=None, alias="_sourceId")
    rest: RestExport | None = None
    http: HttpExport | None = None
    netsuite: NetSuiteExport | None = None
    webhook: WebhookSettings | None = None
    distributed: DistributedExport | None = None
    file: FileExport | None = None
    ftp: FtpExport | None = None
    s3: S3Export | None = None
    wrapper: dict[str, Any] | None = None


def _missing(field: str, message: str) -> ValidationFailed:
    return ValidationFailed.one("missing_required_field", message, field)


def listener_path(export_id: str, webhook: dict[str, Any]) -> str:
    """Where a webhook export listens, under the API's base URL. A secret URL carries its
    token as a path segment (shown masked, like every secret)."""
    if webhook.get("verify") == "secret_url":
        return f"/v1/exports/{export_id}/{webhook.get('token') or MASK}/data"
    return f"/v1/exports/{export_id}/data"


def _listener_url(export_id: str, view: dict[str, Any]) -> None:
    webhook = view.get("webhook")
    if view.get("type") == "webhook" and isinstance(webhook, dict):
        view["webhook"] = {**webhook, "url": listener_path(export_id, webhook)}


def _drop_listener_url(doc: dict[str, Any]) -> dict[str, Any]:
    webhook = doc.get("webhook")
    if isinstance(webhook, dict) and "url" in webhook:
        doc["webhook"] = {key: value for key, value in webhook.items() if key != "url"}
    return doc


#: Providers verified their own documented way (``adaptors/webhook/presets.py``): the signing
#: secret in ``key`` is all they need.
SIGNED_PROVIDERS = frozenset({"github", "shopify", "stripe", "slack", "hubspot"})
#: Where a token is looked for, and the field that names the place.
TOKEN_PLACES = {"body": "path", "header": "tokenHeaderName", "queryParam": "tokenQueryParamName"}


def _check_webhook(webhook: dict[str, Any]) -> None:
    """A listener that could verify no request is refused when saved, not at delivery."""
    if webhook.get("provider") in SIGNED_PROVIDERS:
        if not webhook.get("key"):
            raise _missing(
                "webhook.key", f"The {webhook['provider']} preset needs its signing secret."
            )
        return
    verify = webhook.get("verify")
    if not verify:
        raise _missing("webhook.verify", "webhook.verify says how requests are verified.")
    for name in WEBHOOK_NEEDS[verify]:
        if not webhook.get(name):
            raise _missing(f"webhook.{name}", f"webhook.verify '{verify}' needs webhook.{name}.")
    if verify == "token":
        place = TOKEN_PLACES[webhook.get("tokenLocation") or "body"]
        if not webhook.get(place):
            raise _missing(f"webhook.{place}", f"A token in the request needs webhook.{place}.")
        if webhook.get("tokenHeaderScheme") == "custom" and not webhook.get("customTokenScheme"):
            raise _missing("webhook.customTokenScheme", "A custom scheme needs its name.")


def _check_export(doc: dict[str, Any]) -> None:
    """Rules across fields: which export types need a connection and which need settings.

    HTTP/REST exports are not asked for ``delta``/``once`` settings: they put
    ``{{lastExportDateTime}}`` in the URI or body, and mark records through ``http.once``
    (reference §3.2), so requiring ``delta.dateField`` there would reject valid exports.
    """
    kind = doc.get("type")
    if kind not in CONNECTIONLESS_TYPES and not doc.get("_connectionId"):
        raise _missing("_connectionId", "An export needs _connectionId unless it is a webhook.")
    is_http = isinstance(doc.get("http"), dict) or isinstance(doc.get("rest"), dict)
    if kind == "webhook":
        webhook = doc.get("webhook")
        if not isinstance(webhook, dict):
            raise _missing("webhook", "A webhook export needs its 'webhook' settings.")
        _check_webhook(webhook)
    elif kind == "delta" and not is_http and not isinstance(doc.get("delta"), dict):
        raise _missing("delta", "A delta export needs its 'delta' settings (delta.dateField).")
    elif kind == "once" and not is_http:
        once = doc.get("once")
        if not isinstance(once, dict) or not once.get("booleanField"):
            raise _missing(
                "once.booleanField", "A once export needs once.booleanField to mark records."
            )
    check_hooks(doc.get("hooks"))


EXPORTS = register(
    ResourceType(
        "exports",
        Export,
        secret_paths=(
            "distributed.bearerToken",
            "webhook.key",
            "webhook.token",
            "webhook.password",
        ),
        api_identifier_prefix="e",
        check=_check_export,
        normalize=_drop_listener_url,
        decorate=_listener_url,
        extras=("distributed",),
    )
)
