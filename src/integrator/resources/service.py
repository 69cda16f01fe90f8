"""Create, read, replace, patch and delete resources: validation, references, secrets, connector
ownership and the audit trail, in one transaction per call (nothing is half-written)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar

import jsonpatch
import orjson
from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from integrator.errors import BadRequest, ErrorItem, Forbidden, NotFound, ValidationFailed
from integrator.ids import is_object_id, new_api_identifier, new_object_id
from integrator.resources.base import (
    REGISTRY,
    SERVER_FIELDS,
    JSONDict,
    ResourceType,
    check_json_storable,
)
from integrator.resources.base import validate_document as validate
from integrator.resources.references import find_references
from integrator.store import repository as repo
from integrator.store import secrets
from integrator.store.accounts import CONNECTOR_SCOPE, Principal
from integrator.store.crypto import Cipher
from integrator.store.models import AuditEvent, Resource, utcnow

T = TypeVar("T")


def iso(moment: datetime) -> str:
    """integrator.io's timestamp format: ``2015-05-02T05:13:43.736Z`` (``moment`` is UTC)."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def resource_type(name: str) -> ResourceType:
    """The registered type called ``name`` (``exports``); an unknown type is a 400."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise BadRequest(
            "invalid_resource_type", f"Unknown resource type '{name}'.", "resourceType"
        ) from None


def singular(type_name: str) -> str:
    """``exports`` → ``export``: how integrator.io names a type in audit records."""
    return type_name[:-1] if type_name.endswith("s") else type_name


def _copy(doc: Any) -> Any:
    return orjson.loads(orjson.dumps(doc))


def _aad(resource: Resource | Row[Any]) -> str:
    return f"{resource.account_id}:{resource.type}:{resource.id}"


def diff(old: Any, new: Any, prefix: str = "") -> Iterator[JSONDict]:
    """Field changes between two stored documents; sealed secrets are reported masked."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            yield from diff(old.get(key), new.get(key), f"{prefix}{key}.")
        return
    if old == new:
        return
    path = prefix.rstrip(".")
    if path.endswith(secrets.SUFFIX):
        path = path[: -len(secrets.SUFFIX)]
        old = secrets.MASK if old is not None else None
        new = secrets.MASK if new is not None else None
    yield {"fieldPath": path, "oldValue": old, "newValue": new}


class ResourceService:
    """All resource operations of one caller, within one database session."""

    def __init__(self, db: Session | Connection, cipher: Cipher, principal: Principal) -> None:
        """``db`` is a Session for anything that writes; a plain Connection is enough (and
        faster) for reads."""
        self.db = db
        self.cipher = cipher
        self.principal = principal

    @property
    def session(self) -> Session:
        if not isinstance(self.db, Session):
            raise TypeError("this operation writes: give ResourceService a Session")
        return self.db

    @property
    def confined_to(self) -> str | None:
        """The connector whose resources alone this caller sees (a connector hook's one-time
        token), else None. Other resources answer 404, as if absent, for reads and changes.

        An account's own connector tokens are not confined: they read everything and change
        only their connector's resources (``_check_connector_may_change``)."""
        if self.principal.scope == CONNECTOR_SCOPE:
            return self.principal.connector_id
        return None

    def _visible(self, row: T | None) -> T | None:
        own = self.confined_to
        if row is None or own is None:
            return row
        return row if getattr(row, "connector_id", None) == own else None

    # --- reading ------------------------------------------------------------------------------

    def view(self, rtype: ResourceType, resource: Resource | Row[Any]) -> JSONDict:
        """The document as the API returns it: server fields added, secrets masked."""
        body = secrets.mask(_copy(resource.doc), rtype.secret_paths)
        out: JSONDict = {"_id": resource.id, **body}
        if resource.api_identifier:
            out["apiIdentifier"] = resource.api_identifier
        out["createdAt"] = iso(resource.created_at)
        out["lastModified"] = iso(resource.last_modified)
        if rtype.decorate is not None:
            rtype.decorate(resource.id, out)
        return out

    def load(self, rtype: ResourceType, id_: str) -> Resource:
        """The resource as an ORM object, for changing it; 404 when the account has none."""
        resource = None
        if is_object_id(id_):
            resource = repo.get_resource(self.session, self.principal.account_id, rtype.name, id_)
        return self._found(rtype, id_, self._visible(resource))

    @staticmethod
    def _found(rtype: ResourceType, id_: str, value: T | None) -> T:
        if value is None:
            raise NotFound(f"No {singular(rtype.name)} with _id '{id_}'.")
        return value

    def find(self, rtype: ResourceType, id_: str) -> Row[Any]:
        """Like ``load``, but a read-only row: for reads."""
        row = None
        if is_object_id(id_):
            row = repo.read_resource(self.db, self.principal.account_id, rtype.name, id_)
        return self._found(rtype, id_, self._visible(row))

    def get(self, rtype: ResourceType, id_: str) -> JSONDict:
        return self.view(rtype, self.find(rtype, id_))

    def get_json(self, rtype: ResourceType, id_: str) -> bytes:
        """The response body of ``GET /v1/{type}/{id}``, serialised when it was written."""
        if self.confined_to is not None:
            return str(self.find(rtype, id_).view).encode()
        view = None
        if is_object_id(id_):
            view = repo.read_view(self.db, self.principal.account_id, rtype.name, id_)
        return self._found(rtype, id_, view).encode()

    def list_json(
        self, rtype: ResourceType, filters: dict[str, str], skip: int, limit: int
    ) -> list[bytes]:
        """Response documents of a page of the list, each already serialised."""
        own = self.confined_to
        if own is not None:
            if filters.get("_connectorId", own) != own:
                return []
            filters = {**filters, "_connectorId": own}
        views = repo.list_views(
            self.db, self.principal.account_id, rtype.name, filters, skip, limit
        )
        return [view.encode() for view in views]

    def unsealed_by_api_identifier(self, api_identifier: str) -> tuple[str, JSONDict]:
        """``(type, unsealed document)`` of the export or import invoked as
        ``POST /v1/{apiIdentifier}``; 404 when the account has none."""
        row = self._visible(
            repo.read_by_api_identifier(self.db, self.principal.account_id, api_identifier)
        )
        if row is None:
            raise NotFound(f"No export or import with apiIdentifier '{api_identifier}'.")
        rtype = REGISTRY[row.type]
        doc = secrets.unseal(_copy(row.doc), rtype.secret_paths, self.cipher, _aad(row))
        return row.type, {"_id": row.id, **doc}

    def unsealed(self, rtype: ResourceType, id_: str) -> JSONDict:
        """The stored document with its ``_id`` and secrets in clear: for adaptors, never for
        responses. (Adaptors key per-connection state on the ``_id``: concurrency slots,
        OAuth refresh locks.)"""
        resource = self.find(rtype, id_)
        doc = secrets.unseal(_copy(resource.doc), rtype.secret_paths, self.cipher, _aad(resource))
        return {"_id": resource.id, **doc}

    # --- writing ------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, payload: Any) -> JSONDict:
        doc = validate(rtype, payload)
        self._apply_connector_rule_on_create(doc)
        now = utcnow()
        resource = Resource(
            id=new_object_id(),
            account_id=self.principal.account_id,
            type=rtype.name,
            created_at=now,
            last_modified=now,
            view="",
        )
        if rtype.api_identifier_prefix:
            resource.api_identifier = self._new_api_identifier(rtype.api_identifier_prefix)
        self._store(rtype, resource, doc, previous=None)
        self.session.add(resource)
        self.session.flush()
        self._save_references(resource, doc)
        self._audit(resource, "create", {}, resource.doc)
        return self._render(rtype, resource)

    def replace(self, rtype: ResourceType, id_: str, payload: Any) -> JSONDict:
        resource = self.load(rtype, id_)
        self._check_connector_may_change(resource)
        sent_identifier = payload.get("apiIdentifier") if isinstance(payload, dict) else None
        if sent_identifier is not None and sent_identifier != resource.api_identifier:
            raise ValidationFailed.one(
                "immutable_field", "apiIdentifier cannot be changed.", "apiIdentifier"
            )
        doc = validate(rtype, payload)
        self._check_connector_tag_kept(resource, doc)
        old = resource.doc
        self._store(rtype, resource, doc, previous=old)
        resource.last_modified = utcnow()
        self._save_references(resource, doc)
        self._audit(resource, "update", old, resource.doc)
        return self._render(rtype, resource)

    def patch(self, rtype: ResourceType, id_: str, operations: Any) -> JSONDict:
        """Apply an RFC 6902 JSON Patch to the document as the API shows it, then replace."""
        current = self.get(rtype, id_)
        touched = self._patched_fields(operations)
        forbidden = sorted(touched & set(SERVER_FIELDS) - {"apiIdentifier"})
        if rtype.patchable is not None:
            forbidden += sorted(touched - rtype.patchable - set(forbidden))
        if forbidden:
            raise ValidationFailed(
                [ErrorItem("invalid_patch", f"'{f}' cannot be patched.", f) for f in forbidden]
            )
        try:
            patched = jsonpatch.apply_patch(current, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise ValidationFailed.one("invalid_patch", str(exc)) from None
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise ValidationFailed.one("invalid_patch", f"Invalid JSON Patch: {exc}") from None
        return self.replace(rtype, id_, patched)

    def delete(self, rtype: ResourceType, id_: str) -> None:
        resource = self.load(rtype, id_)
        self._check_connector_may_change(resource)
        users = repo.dependants(self.session, self.principal.account_id, id_)
        if users:
            raise ValidationFailed(
                [
                    ErrorItem(
                        "resource_in_use",
                        f"{singular(rtype.name).capitalize()} '{id_}' is used by "
                        f"{singular(user.type)} '{user.name or user.id}' ({user.id}) "
                        f"at {path}.",
                        path,
                    )
                    for user, path in users
                ]
            )
        repo.delete_state(self.session, self.principal.account_id, rtype.name, id_)
        self._audit(resource, "delete", resource.doc, {})
        self.session.delete(resource)

    def set_offline(self, rtype: ResourceType, id_: str, offline: bool) -> None:
        """Record a connection's health (integrator.io's ``offline`` flag) as found by a ping or
        an authentication failure; audited with source ``system``. No change, no write."""
        resource = self.load(rtype, id_)
        if bool(resource.doc.get("offline")) == offline:
            return
        old = resource.doc
        resource.doc = (
            {**old, "offline": True}
            if offline
            else {k: v for k, v in old.items() if k != "offline"}
        )
        resource.last_modified = utcnow()
        self._render(rtype, resource)
        self._audit(resource, "update", old, resource.doc, source="system")

    def store_tokens(self, id_: str, access_token: str | None, refresh_token: str | None) -> None:
        """Keep a connection's renewed OAuth tokens (refresh tokens may rotate: losing the new
        one locks the connection out). Modern connections keep them in ``http.auth.token``,
        legacy ones in ``rest.bearerToken``/``rest.refreshToken``; sealed like any secret."""
        rtype = REGISTRY["connections"]
        resource = self.load(rtype, id_)
        aad = _aad(resource)
        doc = secrets.unseal(_copy(resource.doc), rtype.secret_paths, self.cipher, aad)
        if isinstance(doc.get("http"), dict):
            auth = doc["http"].setdefault("auth", {})
            token = auth.setdefault("token", {}) if isinstance(auth, dict) else {}
            names = ("token", "refreshToken")
        else:
            token = doc.setdefault("rest", {})
            names = ("bearerToken", "refreshToken")
        for name, value in zip(names, (access_token, refresh_token), strict=True):
            if value:
                token[name] = value
        old = resource.doc
        resource.doc = secrets.seal(doc, rtype.secret_paths, self.cipher, aad)
        resource.last_modified = utcnow()
        self._render(rtype, resource)
        self._audit(resource, "update", old, resource.doc, source="system")

    def stored_tokens(self, id_: str) -> tuple[str | None, str | None]:
        """The OAuth access and refresh tokens stored on a connection now (``store_tokens``'s
        fields), for processes that must not refresh with an outdated refresh token."""
        doc = self.unsealed(REGISTRY["connections"], id_)
        if isinstance(doc.get("http"), dict):
            auth = doc["http"].get("auth")
            token = auth.get("token") if isinstance(auth, dict) else None
            token = token if isinstance(token, dict) else {}
            access, refresh = token.get("token"), token.get("refreshToken")
        else:
            rest = doc.get("rest")
            rest = rest if isinstance(rest, dict) else {}
            access, refresh = rest.get("bearerToken"), rest.get("refreshToken")
        return (
            access if isinstance(access, str) else None,
            refresh if isinstance(refresh, str) else None,
        )

    # --- extras: /exports/{id}/distributed ----------------------------------------------------

    def get_extra(self, rtype: ResourceType, id_: str, kind: str) -> JSONDict:
        resource = self.load(rtype, id_)
        extra = repo.get_extra(self.session, resource.id, kind)
        if extra is None:
            raise NotFound(f"No {kind} component for {singular(rtype.name)} '{id_}'.")
        return {"_id": resource.id, **extra.doc, "lastModified": iso(extra.last_modified)}

    def put_extra(self, rtype: ResourceType, id_: str, kind: str, payload: Any) -> JSONDict:
        resource = self.load(rtype, id_)
        self._check_connector_may_change(resource)
        if not isinstance(payload, dict):
            raise ValidationFailed.one("invalid_field", "The body must be a JSON object.")
        doc = {k: v for k, v in payload.items() if k not in SERVER_FIELDS and v is not None}
        check_json_storable(doc)
        old_extra = repo.get_extra(self.session, resource.id, kind)
        old = {kind: old_extra.doc} if old_extra else {}
        extra = repo.put_extra(self.session, resource, kind, doc, utcnow())
        self._audit(resource, "update", old, {kind: doc})
        return {"_id": resource.id, **extra.doc, "lastModified": iso(extra.last_modified)}

    # --- dependencies -------------------------------------------------------------------------

    def dependencies(self, rtype: ResourceType, id_: str) -> JSONDict:
        """What the resource uses and what uses it, grouped by type."""
        resource = self.load(rtype, id_)
        uses: dict[str, list[JSONDict]] = {}
        refs = repo.references_of(self.session, resource.id)
        names = repo.names_of(self.session, resource.account_id, (r.to_id for r in refs))
        for ref in refs:
            entry = {"_id": ref.to_id, "name": names.get(ref.to_id), "paths": [ref.path]}
            self._merge(uses.setdefault(ref.to_type, []), entry)
        used_by: dict[str, list[JSONDict]] = {}
        for user, path in repo.dependants(self.session, resource.account_id, resource.id):
            if self._visible(user) is None:
                continue
            entry = {"_id": user.id, "name": user.name, "paths": [path]}
            self._merge(used_by.setdefault(user.type, []), entry)
        return {"uses": uses, "usedBy": used_by}

    @staticmethod
    def _merge(entries: list[JSONDict], entry: JSONDict) -> None:
        for existing in entries:
            if existing["_id"] == entry["_id"]:
                existing["paths"].extend(entry["paths"])
                return
        entries.append(entry)

    # --- internals ----------------------------------------------------------------------------

    def _render(self, rtype: ResourceType, resource: Resource) -> JSONDict:
        """Compute the response document and store it serialised for reads."""
        view = self.view(rtype, resource)
        resource.view = orjson.dumps(view).decode()
        return view

    def _store(
        self, rtype: ResourceType, resource: Resource, doc: JSONDict, previous: JSONDict | None
    ) -> None:
        self._check_references(doc)
        resource.doc = secrets.seal(doc, rtype.secret_paths, self.cipher, _aad(resource), previous)
        name = doc.get("name")
        resource.name = name if isinstance(name, str) else None
        connector = doc.get("_connectorId")
        resource.connector_id = connector if isinstance(connector, str) else None

    def _check_references(self, doc: JSONDict) -> None:
        refs = list(find_references(doc))
        found = repo.existing_ids(
            self.session,
            self.principal.account_id,
            ((r.to_type, r.to_id) for r in refs),
            self.confined_to,
        )
        missing = [r for r in refs if r.to_id not in found]
        if missing:
            raise ValidationFailed(
                [
                    ErrorItem(
                        "invalid_reference",
                        f"No {singular(r.to_type)} with _id '{r.to_id}' in this account.",
                        r.path,
                    )
                    for r in missing
                ]
            )

    def _save_references(self, resource: Resource, doc: JSONDict) -> None:
        refs = {(r.path, r.to_type, r.to_id) for r in find_references(doc)}
        repo.replace_references(self.session, resource, sorted(refs))

    def _new_api_identifier(self, prefix: str) -> str:
        while True:
            candidate = new_api_identifier(prefix)
            if not repo.api_identifier_taken(self.session, candidate):
                return candidate

    def _apply_connector_rule_on_create(self, doc: JSONDict) -> None:
        own = self.principal.connector_id
        if own is None:
            return
        sent = doc.get("_connectorId")
        if sent is not None and sent != own:
            raise Forbidden(
                "A connector token can only tag resources with its own connector.", "_connectorId"
            )
        doc["_connectorId"] = own

    def _check_connector_may_change(self, resource: Resource) -> None:
        """A connector's resources change only by the account owner or that connector's tokens."""
        own = self.principal.connector_id
        if own is not None and resource.connector_id != own:
            raise Forbidden(
                "This token belongs to a connector and may only change that connector's resources."
            )

    def _check_connector_tag_kept(self, resource: Resource, doc: JSONDict) -> None:
        own = self.principal.connector_id
        if own is not None and doc.get("_connectorId", own) != own:
            raise Forbidden("A connector token cannot change _connectorId.", "_connectorId")
        if own is not None:
            doc["_connectorId"] = own

    @staticmethod
    def _patched_fields(operations: Any) -> set[str]:
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            raise ValidationFailed.one("invalid_patch", "A JSON Patch is an array of operations.")
        fields = set()
        for op in operations:
            for key in ("path", "from"):
                pointer = op.get(key)
                if isinstance(pointer, str) and pointer.startswith("/"):
                    fields.add(pointer[1:].split("/", 1)[0].replace("~1", "/").replace("~0", "~"))
                elif key == "path":
                    raise ValidationFailed.one(
                        "invalid_patch", "Each operation needs a JSON Pointer 'path'.", "path"
                    )
        return fields

    def _audit(
        self, resource: Resource, action: str, old: JSONDict, new: JSONDict, source: str = "api"
    ) -> None:
        changes = list(diff(old, new))
        if action == "update" and not changes:
            return
        repo.add_audit(
            self.session,
            AuditEvent(
                id=new_object_id(),
                account_id=resource.account_id,
                resource_type=resource.type,
                resource_id=resource.id,
                action=action,
                source=source,
                by_user_id=self.principal.user_id,
                by_token_id=self.principal.token_id,
                time=utcnow(),
                changes=changes,
            ),
        )
