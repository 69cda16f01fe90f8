"""The smaller resource types: integrations, connectors, iClients, scripts, stacks, templates."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from integrator.errors import ValidationFailed
from integrator.resources.base import Block, Document, ResourceType, register


class InstallStep(Block):
    name: str | None = None
    description: str | None = None
    completed: bool | None = None
    installerFunction: str | None = None
    uninstallerFunction: str | None = None
    connection_id: str | None = Field(default=None, alias="_connectionId")


class Integration(Document):
    """``/v1/integrations``: a group of flows with shared settings (reference §7.1)."""

    readme: str | None = None
    mode: Literal["install", "settings", "uninstall"] | None = None
    settings: dict[str, Any] | None = None
    version: str | None = None
    updateInProgress: bool | None = None
    install: list[InstallStep] | None = None
    installSteps: list[dict[str, Any]] | None = None
    sandbox: bool | None = None
    parent_integration_id: str | None = Field(default=None, alias="_parentIntegrationId")


class Connector(Document):
    """``/v1/connectors``: a SmartConnector / integration app published from this account."""

    name: str = Field(min_length=1, max_length=500)
    imageURL: str | None = None
    websiteURL: str | None = None
    contactEmail: str | None = None
    handle: str | None = None
    published: bool | None = None
    managed: bool | None = None
    stack_id: str | None = Field(default=None, alias="_stackId")
    installerFunction: str | None = None
    updateFunction: str | None = None
    preUninstallFunction: str | None = None
    uninstallerFunction: str | None = None
    externalInstallerFunction: str | None = None
    applications: list[str] | None = None
    shared_export_ids: list[str] | None = Field(default=None, alias="_sharedExportIds")
    shared_import_ids: list[str] | None = Field(default=None, alias="_sharedImportIds")


class OAuth2Client(Block):
    clientId: str | None = None
    clientSecret: str | None = None
    scope: list[str] | None = None
    scopeDelimiter: str | None = None
    redirectUri: str | None = None
    grantType: str | None = None


class IClient(Document):
    """``/v1/iclients``: an app registration's credentials (OAuth client id and secret...)."""

    name: str = Field(min_length=1, max_length=500)
    provider: str | None = None
    oauth2: OAuth2Client | None = None
    netsuite: dict[str, Any] | None = None
    published: bool | None = None


class Script(Document):
    """``/v1/scripts``: hook code, JavaScript (default) or Python."""

    name: str = Field(min_length=1, max_length=500)
    content: str | None = None
    language: Literal["javascript", "python"] | None = None


class Stack(Document):
    """``/v1/stacks``: a server that hosts extension functions (``POST {hostURI}/function``)."""

    name: str = Field(min_length=1, max_length=500)
    type: Literal["server", "lambda"]
    server: dict[str, Any] | None = None
    lambda_: dict[str, Any] | None = Field(default=None, alias="lambda")


class Template(Document):
    """``/v1/templates``: a marketplace listing of an unmanaged integration template."""

    name: str = Field(min_length=1, max_length=500)
    imageURL: str | None = None
    websiteURL: str | None = None
    contactEmail: str | None = None
    published: bool | None = None
    applications: list[str] | None = None


def _check_stack(doc: dict[str, Any]) -> None:
    """A server stack needs a host URI: in ``server`` (integrator.io's shape) or at the top."""
    if doc["type"] != "server":
        return
    server: dict[str, Any] = doc["server"] if isinstance(doc.get("server"), dict) else {}
    field, host = (
        ("server.hostURI", server.get("hostURI"))
        if "hostURI" in server
        else ("hostURI", doc.get("hostURI"))
    )
    if not host:
        raise ValidationFailed.one(
            "missing_required_field", "A server stack needs server.hostURI.", "server.hostURI"
        )
    if not isinstance(host, str) or not host.startswith(("http://", "https://")):
        raise ValidationFailed.one("invalid_field", f"{field} must be an http(s) URL.", field)


INTEGRATIONS = register(ResourceType("integrations", Integration))
CONNECTORS = register(ResourceType("connectors", Connector))
ICLIENTS = register(
    ResourceType(
        "iclients",
        IClient,
        secret_paths=(
            "oauth2.clientSecret",
            "netsuite.consumerSecret",
            "netsuite.tokenSecret",
            "salesforce.clientSecret",
            "amazonmws.secretKey",
            "ebay.clientSecret",
            "encrypted",
        ),
    )
)
SCRIPTS = register(ResourceType("scripts", Script))
STACKS = register(
    ResourceType(
        "stacks",
        Stack,
        secret_paths=("systemToken", "server.systemToken", "lambda.secretAccessKey"),
        check=_check_stack,
    )
)
TEMPLATES = register(ResourceType("templates", Template))
