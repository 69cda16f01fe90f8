"""``/v1/connections``: credentials and access details for one application or system.

Reference §2.1. A connection's ``type`` names the block that holds its settings (``rest``,
``http``, ``ftp``...; ``sftp`` keeps its settings in ``ftp``). Both the legacy ``rest`` block and
the modern ``http`` block are accepted. Credentials live in the secret fields listed in
``SECRET_PATHS``: they are sealed at rest and answered as ``"******"``.

This module also holds two building blocks the export and import schemas share with it:
``either`` (a union of JSON types that fails as one error at the field's own path) and
``NameValue`` (a header: connection headers are merged with export/import headers).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

from integrator.errors import ValidationFailed
from integrator.resources.base import Block, Document, ResourceType, register


def either(expected: str) -> WrapValidator:
    """Validate a union of JSON types, reporting a failure once, at the field itself.

    Pydantic reports a failed ``str | list[str]`` once per member, with the member's name
    appended to the location (``rest.method.str``, ``rest.method.list[str]``). Clients should
    see one error on ``rest.method`` that says which JSON types are allowed.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(
                "json_type", "Input should be {expected}", {"expected": expected}
            ) from None

    return WrapValidator(validate)


#: A secret that is an object of named values (``encrypted``); responses show ``"******"``.
SecretObject = Annotated[dict[str, Any] | str, either('an object (or the mask "******")')]

ConnectionType = Literal[
    # modern (reference §2.1; "rest" is the deprecated legacy type)
    "http",
    "rest",
    "ftp",
    "s3",
    "netsuite",
    "salesforce",
    "wrapper",
    "rdbms",
    "mongodb",
    "as2",
    "filesystem",
    "mcp",
    "dynamodb",
    "jdbc",
    "van",
    # legacy only
    "sftp",
    "magento",
]

#: Connection types whose settings block must be present, and the block's name.
REQUIRED_BLOCK: dict[str, str] = {
    "http": "http",
    "rest": "rest",
    "ftp": "ftp",
    "sftp": "ftp",
    "s3": "s3",
    "netsuite": "netsuite",
    "wrapper": "wrapper",
    "rdbms": "rdbms",
}


class NameValue(Block):
    """One HTTP header; ``value`` may be a handlebars template."""

    name: str
    value: str


class CustomFieldSpec(Block):
    """Describes one key of ``encrypted``/``unencrypted`` for the UI."""

    id: str | None = None
    label: str | None = None
    required: bool | None = None
    position: int | None = None
    helpText: str | None = None
    type: str | None = None


class BasicAuth(Block):
    username: str | None = None
    password: str | None = None


class RestConnection(Block):
    """Legacy ``rest`` block (D16/D17): exports and imports give URIs relative to ``baseURI``."""

    mediaType: Literal["json", "urlencoded", "xml", "csv"] | None = None
    baseURI: str | None = None
    authType: (
        Literal["basic", "token", "oauth", "custom", "cookie", "jwt", "hmac", "wsse", "oauth1"]
        | None
    ) = None
    bearerToken: str | None = None
    tokenLocation: Literal["header", "url"] | None = None
    tokenParam: str | None = None
    scope: list[str] | None = None
    scopeDelimiter: str | None = None
    refreshToken: str | None = None
    authURI: str | None = None
    oauthTokenURI: str | None = None
    authHeader: str | None = None
    authScheme: str | None = None
    disableStrictSSL: bool | None = None
    retryHeader: str | None = None
    basicAuth: BasicAuth | None = None
    iclient_id: str | None = Field(default=None, alias="_iClientId")
    info: Any = None
    headers: list[NameValue] | None = None
    pingRelativeURI: str | None = None
    pingSuccessPath: str | None = None
    pingSuccessValues: list[str] | None = None
    pingMethod: Literal["GET", "POST"] | None = None
    pingBody: str | None = None
    #: Maximum simultaneous requests; absent means "burst" (no queue limit).
    concurrencyLevel: int | None = Field(default=None, ge=1, le=50)
    encrypted: SecretObject | None = None
    encryptedFields: list[CustomFieldSpec] | None = None
    unencrypted: dict[str, Any] | None = None
    unencryptedFields: list[CustomFieldSpec] | None = None


class HttpPing(Block):
    relativeURI: str | None = None
    method: Literal["GET", "POST", "PUT", "HEAD"] | None = None
    body: str | None = None
    successPath: str | None = None
    successValues: list[str] | None = None
    failPath: str | None = None
    failValues: list[str] | None = None
    errorPath: str | None = None


class HttpTokenAuth(Block):
    token: str | None = None
    location: Literal["url", "header", "body"] | None = None
    headerName: str | None = None
    scheme: str | None = None
    paramName: str | None = None
    refreshMethod: Literal["GET", "POST", "PUT"] | None = None
    refreshRelativeURI: str | None = None
    refreshBody: str | None = None
    refreshTokenPath: str | None = None
    refreshToken: str | None = None
    refreshHeaders: list[NameValue] | None = None


class HttpAuth(Block):
    """How requests authenticate; ``fail*`` say which responses mean "re-authenticate and retry"."""

    type: (
        Literal[
            "custom",
            "basic",
            "token",
            "oauth",
            "wsse",
            "cookie",
            "digest",
            "oauth1",
            "jwtbearer",
            "jwt",
        ]
        | None
    ) = None
    failStatusCode: int | None = None
    failPath: str | None = None
    failValues: list[str] | None = None
    failures: list[dict[str, Any]] | None = None
    basic: BasicAuth | None = None
    token: HttpTokenAuth | None = None
    oauth: dict[str, Any] | None = None
    cookie: dict[str, Any] | None = None


class HttpRateLimit(Block):
    """Which target responses mean "rate limited": pause, honour ``retryHeader``, retry."""

    failStatusCode: int | None = None
    failPath: str | None = None
    failValues: list[str] | None = None
    limit: int | None = Field(default=None, ge=1)


class HttpConnection(Block):
    """Modern ``http`` block (reference §2.1, AI http.yml)."""

    mediaType: Literal["json", "urlencoded", "xml", "csv", "form-data", "plaintext"] | None = None
    successMediaType: Literal["json", "xml", "csv", "plaintext"] | None = None
    errorMediaType: Literal["json", "xml", "plaintext"] | None = None
    baseURI: str | None = None
    disableStrictSSL: bool | None = None
    concurrencyLevel: int | None = Field(default=None, ge=1, le=50)
    targetConcurrencyLevel: int | None = Field(default=None, ge=1, le=50)
    retryHeader: str | None = None
    headers: list[NameValue] | None = None
    ping: HttpPing | None = None
    auth: HttpAuth | None = None
    rateLimit: HttpRateLimit | None = None
    encrypted: SecretObject | None = None
    encryptedFields: list[CustomFieldSpec] | None = None
    unencrypted: dict[str, Any] | None = None
    unencryptedFields: list[CustomFieldSpec] | None = None
    clientCertificates: dict[str, Any] | None = None
    iclient_id: str | None = Field(default=None, alias="_iClientId")


class FtpConnection(Block):
    """FTP, SFTP or FTPS server; ``hostURI`` is a host name, not a URL."""

    type: Literal["ftp", "sftp", "ftps"] | None = None
    hostURI: str | None = None
    port: int | None = Field(default=None, ge=0, le=65535)
    username: str | None = None
    password: str | None = None
    authKey: str | None = None
    usePassiveMode: bool | None = None
    userDirectoryIsRoot: bool | None = None
    concurrencyLevel: int | None = Field(default=None, ge=1, le=50)


class S3Connection(Block):
    region: str | None = None
    accessKeyId: str | None = None
    secretAccessKey: str | None = None


class NetSuiteConnection(Block):
    authType: Literal["basic", "token", "token-auto"] | None = None
    account: str | None = None
    roleId: str | None = None
    email: str | None = None
    password: str | None = None
    environment: Literal["production", "sandbox", "sandbox2.0", "beta"] | None = None
    tokenId: str | None = None
    tokenSecret: str | None = None
    requestLevelCredentials: bool | None = None
    useSsoLogin: bool | None = None
    dataCenterURLs: dict[str, Any] | None = None
    iclient_id: str | None = Field(default=None, alias="_iClientId")


class WrapperConnection(Block):
    """A connection whose ping/export/import calls go to functions on a stack or in a script
    (reference §8.4)."""

    stack_id: str | None = Field(default=None, alias="_stackId")
    script_id: str | None = Field(default=None, alias="_scriptId")
    pingFunction: str | None = None
    encrypted: SecretObject | None = None
    unencrypted: dict[str, Any] | None = None


class RdbmsConnection(Block):
    type: str | None = None
    password: str | None = None


class Queue(Block):
    name: str | None = None
    size: int | None = None


class Connection(Document):
    """``/v1/connections``: one application or system and how to reach it."""

    type: ConnectionType
    offline: bool | None = None
    debugDate: str | None = None
    sandbox: bool | None = None
    externalId: str | None = None
    queues: list[Queue] | None = None
    borrow_concurrency_from_connection_id: str | None = Field(
        default=None, alias="_borrowConcurrencyFromConnectionId"
    )
    agent_id: str | None = Field(default=None, alias="_agentId")
    settings: dict[str, Any] | None = None
    settingsForm: dict[str, Any] | None = None
    pgp: dict[str, Any] | None = None
    ssl: dict[str, Any] | None = None
    encrypted: SecretObject | None = None
    rest: RestConnection | None = None
    http: HttpConnection | None = None
    ftp: FtpConnection | None = None
    s3: S3Connection | None = None
    netsuite: NetSuiteConnection | None = None
    wrapper: WrapperConnection | None = None
    rdbms: RdbmsConnection | None = None
    salesforce: dict[str, Any] | None = None
    mongodb: dict[str, Any] | None = None
    as2: dict[str, Any] | None = None
    filesystem: dict[str, Any] | None = None
    dynamodb: dict[str, Any] | None = None
    jdbc: dict[str, Any] | None = None


def is_http_url(value: Any) -> bool:
    """True for an absolute http(s) URL with a host, or a handlebars template resolved later.

    A template such as ``{{{connection.settings.baseURL}}}`` can only be checked at run time.
    """
    if not isinstance(value, str) or not value.strip():
        return False
    if value.lstrip().startswith("{{"):
        return True
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _check_connection(doc: dict[str, Any]) -> None:
    """Rules across fields: the type's block is present and its addresses are usable."""
    block_name = REQUIRED_BLOCK.get(doc["type"])
    if block_name is None:
        return
    block = doc.get(block_name)
    if not isinstance(block, dict):
        raise ValidationFailed.one(
            "missing_required_field",
            f"A {doc['type']} connection needs its '{block_name}' settings.",
            block_name,
        )
    if block_name in ("rest", "http"):
        field = f"{block_name}.baseURI"
        if not block.get("baseURI"):
            raise ValidationFailed.one("missing_required_field", f"{field} is required.", field)
        if not is_http_url(block["baseURI"]):
            raise ValidationFailed.one(
                "invalid_field",
                f"{field} must be an http(s) URL such as https://api.example.com.",
                field,
            )
    if block_name == "ftp" and not block.get("hostURI"):
        raise ValidationFailed.one(
            "missing_required_field",
            "ftp.hostURI (the server's host name) is required.",
            "ftp.hostURI",
        )


SECRET_PATHS = (
    "rest.bearerToken",
    "rest.refreshToken",
    "rest.basicAuth.password",
    "rest.encrypted",
    "http.auth.basic.password",
    "http.auth.token.token",
    "http.auth.token.refreshToken",
    "http.auth.oauth.clientSecret",
    "http.encrypted",
    "http.clientCertificates.key",
    "http.clientCertificates.passphrase",
    "http.clientCertificates.pfx",
    "ftp.password",
    "ftp.authKey",
    "ftp.pgpPassphrase",
    "ftp.pgpDecryptKey",
    "pgp.privateKey",
    "pgp.passphrase",
    "s3.secretAccessKey",
    "netsuite.password",
    "netsuite.tokenId",
    "netsuite.tokenSecret",
    "netsuite.consumerSecret",
    "wrapper.encrypted",
    "rdbms.password",
    "encrypted",
)

CONNECTIONS = register(
    ResourceType(
        "connections",
        Connection,
        secret_paths=SECRET_PATHS,
        check=_check_connection,
    )
)
