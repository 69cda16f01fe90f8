"""Response and request shapes that appear in the OpenAPI document."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from integrator.resources.base import Document, ResourceType


class ErrorEntry(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorEnvelope(BaseModel):
    errors: list[ErrorEntry]


class PatchOperation(BaseModel):
    """One RFC 6902 operation."""

    model_config = ConfigDict(populate_by_name=True)

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any = None
    from_: str | None = Field(default=None, alias="from")


class TokenInfo(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    user_id: str = Field(alias="_userId")
    scope: str


class StateKeys(BaseModel):
    keys: list[str]


class FieldChange(BaseModel):
    fieldPath: str
    oldValue: Any = None
    newValue: Any = None


class AuditUser(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")


class AuditRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    resourceType: str
    resource_id: str = Field(alias="_resourceId")
    action: Literal["create", "update", "delete"]
    source: str
    time: str
    byUser: AuditUser
    fieldChanges: list[FieldChange]


class DependencyEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    name: str | None = None
    paths: list[str]


class Dependencies(BaseModel):
    uses: dict[str, list[DependencyEntry]]
    usedBy: dict[str, list[DependencyEntry]]


class ExtraDocument(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    lastModified: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in {
        400: "Malformed request (bad JSON, bad query parameters)",
        401: "Missing or invalid bearer token",
        403: "Forbidden for this token (connector ownership)",
        404: "No such resource in this account",
        413: "Request body too large",
        422: "The document breaks a rule of its resource type",
        429: "Rate limit reached: see Retry-After",
    }.items()
}


def output_model(resource_type: ResourceType) -> type[Document]:
    """The type's schema plus the fields the server adds."""
    base = resource_type.model
    extra: dict[str, Any] = {
        "id": (str, Field(alias="_id", pattern="^[0-9a-f]{24}$")),
        "createdAt": (str, ...),
        "lastModified": (str, ...),
    }
    if resource_type.api_identifier_prefix:
        extra["apiIdentifier"] = (str, ...)
    model = create_model(base.__name__ + "Read", __base__=base, **extra)
    return model  # type: ignore[return-value]
