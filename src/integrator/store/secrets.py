"""Sealing, masking and opening the secret fields of a resource document.

A secret path is dotted, with ``*`` matching any list element or object key:
``rest.basicAuth.password``, ``http.encrypted``, ``oauth2.clientSecret``. At rest the field
``x`` is replaced by ``x_crypt`` (AES-GCM, see ``crypto``). Responses show ``"******"``.
Sending ``"******"`` back on an update keeps the stored value; omitting the field removes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from integrator.errors import ValidationFailed
from integrator.store.crypto import Cipher

MASK = "******"
SUFFIX = "_crypt"


def _parents(doc: Any, parts: list[str], prefix: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Yield ``(container, concrete dotted path)`` for every dict reached by ``parts``."""
    if not parts:
        if isinstance(doc, dict):
            yield doc, prefix
        return
    head, rest = parts[0], parts[1:]
    if isinstance(doc, dict):
        keys = list(doc) if head == "*" else [head] if head in doc else []
        for key in keys:
            yield from _parents(doc[key], rest, f"{prefix}{key}.")
    elif isinstance(doc, list) and head == "*":
        for index, item in enumerate(doc):
            yield from _parents(item, rest, f"{prefix}{index}.")


def _matches(doc: Any, path: str) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Yield ``(container, field name, concrete path)`` for each place ``path`` can name."""
    *parent, name = path.split(".")
    for container, prefix in _parents(doc, parent):
        yield container, name, prefix + name


def _lookup(doc: Any, concrete: str) -> Any:
    node = doc
    for part in concrete.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def seal(
    doc: dict[str, Any],
    paths: tuple[str, ...],
    cipher: Cipher,
    aad_prefix: str,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Encrypt the secret fields of ``doc`` in place and return it.

    ``previous`` is the stored (sealed) document being replaced: a field sent as ``"******"``
    takes its sealed value from there. Raises ``ValidationFailed`` when ``"******"`` is sent for
    a secret that was never stored.
    """
    for path in paths:
        for container, name, concrete in list(_matches(doc, path)):
            container.pop(name + SUFFIX, None)  # never trust sealed values from a client
            if name not in container:
                continue
            value = container.pop(name)
            if value is None:
                continue
            if value == MASK:
                kept = _lookup(previous, concrete + SUFFIX) if previous else None
                if kept is None:
                    raise ValidationFailed.one(
                        "invalid_field",
                        f"'{MASK}' keeps a stored secret, but none is stored for this field; "
                        "send the real value.",
                        concrete,
                    )
                container[name + SUFFIX] = kept
                continue
            container[name + SUFFIX] = cipher.seal(orjson.dumps(value), f"{aad_prefix}:{concrete}")
    return doc


def mask(doc: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """Replace every sealed field of ``doc`` (in place) with ``"******"``."""
    for path in paths:
        for container, name, _ in list(_matches(doc, path + SUFFIX)):
            if name in container:
                del container[name]
                container[name[: -len(SUFFIX)]] = MASK
    return doc


def unseal(
    doc: dict[str, Any], paths: tuple[str, ...], cipher: Cipher, aad_prefix: str
) -> dict[str, Any]:
    """Decrypt every sealed field of ``doc`` in place: for adaptors, never for responses."""
    for path in paths:
        for container, name, concrete in list(_matches(doc, path + SUFFIX)):
            if name in container:
                sealed = container.pop(name)
                plain_path = concrete[: -len(SUFFIX)]
                container[name[: -len(SUFFIX)]] = orjson.loads(
                    cipher.open(sealed, f"{aad_prefix}:{plain_path}")
                )
    return doc
