"""What a listener answers: handshakes (``challenge``) and stored deliveries (``success``).

The listener calls, in order: ``verify`` → ``challenge`` (answer it and store nothing when it
returns an ``Answer``) → ``records`` → store → ``success``.

Templates render with our handlebars ``render()``; how ``{{value}}`` is escaped follows the
answer's media type, so a value cannot break the answer: JSON-string escaping for json,
XML/HTML escaping for xml, none for plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrator.adaptors.webhook.delivery import MEDIA_TYPES, Answer, Delivery
from integrator.adaptors.webhook.payloads import payload_object
from integrator.adaptors.webhook.presets import slack_challenge
from integrator.mapping.templates import Mode, render

__all__ = ["challenge", "success"]

_MODES: dict[str, Mode] = {"json": "body", "xml": "plain", "plaintext": "text"}


def _headers(items: Any) -> tuple[tuple[str, str], ...]:
    """``[{name, value}]`` → header pairs (entries without a name are skipped)."""
    out: list[tuple[str, str]] = []
    for item in items or ():
        if isinstance(item, Mapping) and item.get("name"):
            out.append((str(item["name"]), str(item.get("value") or "")))
    return tuple(out)


def _query_fields(query: Mapping[str, list[str]]) -> dict[str, Any]:
    return {name: values[0] if len(values) == 1 else list(values) for name, values in query.items()}


def challenge(webhook: Mapping[str, Any], delivery: Delivery) -> Answer | None:
    """The answer to a subscription handshake, or None for an ordinary delivery.

    With ``challengeSuccessBody`` set, it is rendered against the query parameters and the
    fields of the JSON (or form, or XML) body, the body's winning on a clash; ``{{challenge}}``,
    ``{{[hub.challenge]}}`` (a dotted query name) both work. Then:

    * a GET is always a handshake (deliveries are POST/PUT), answered with the rendering;
    * a POST/PUT is a handshake when the rendering is non-empty *and* differs from the template
      rendered against nothing. ``{"challenge": "{{challenge}}"}`` is then a handshake only
      when the request carries a challenge, instead of swallowing every delivery.

    The answer: ``challengeSuccessStatusCode`` (200), ``challengeSuccessMediaType`` (json),
    ``challengeResponseHeaders``. Without ``challengeSuccessBody``, the ``slack`` preset answers
    Slack's ``url_verification``; a GET gets None (the route answers 405).
    """
    template = webhook.get("challengeSuccessBody")
    is_get = delivery.method.upper() == "GET"
    if isinstance(template, str) and template:
        body = {} if is_get and not delivery.body.strip() else payload_object(webhook, delivery)
        context = {**_query_fields(delivery.query), **body}
        kind = str(webhook.get("challengeSuccessMediaType") or "json")
        mode = _MODES.get(kind, "body")
        rendered = render(template, context, mode)
        if is_get or (rendered.strip() and rendered != render(template, {}, mode)):
            return Answer(
                status=int(webhook.get("challengeSuccessStatusCode") or 200),
                media_type=MEDIA_TYPES.get(kind, MEDIA_TYPES["json"]),
                body=rendered.encode(),
                headers=_headers(webhook.get("challengeResponseHeaders")),
            )
    if webhook.get("provider") == "slack" and not is_get:
        return slack_challenge(payload_object(webhook, delivery))
    return None


def success(webhook: Mapping[str, Any], delivery: Delivery) -> Answer:
    """The answer once the delivery is stored.

    ``successStatusCode`` (default 204; a 204 has no body whatever ``successBody`` says),
    ``successBody`` rendered against the parsed body when it is an object (else ``{}``),
    ``successMediaType`` (json), ``successResponseHeaders``.
    """
    status = int(webhook.get("successStatusCode") or 204)
    kind = str(webhook.get("successMediaType") or "json")
    template = webhook.get("successBody")
    body = b""
    if status != 204 and isinstance(template, str) and template:
        body = render(
            template, payload_object(webhook, delivery), _MODES.get(kind, "body")
        ).encode()
    return Answer(
        status=status,
        media_type=MEDIA_TYPES.get(kind, MEDIA_TYPES["json"]),
        body=body,
        headers=_headers(webhook.get("successResponseHeaders")),
    )
