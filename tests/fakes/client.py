"""A few lines of http.client for checking the fake independently of the HTTP adaptor:
a keep-alive JSON client, the `Link` rel="next" parser and a 200 assertion."""

from __future__ import annotations

import http.client
import json
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from .saas import FakeSaas


class Client:
    """A keep-alive JSON client for the fake; accepts absolute URLs or paths."""

    def __init__(self, fake: FakeSaas) -> None:
        self.fake = fake
        port = urlsplit(fake.base_url).port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, Any]:
        split = urlsplit(url)
        target = split.path + (f"?{split.query}" if split.query else "")
        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.connection.request(method, target, body=data, headers=headers)
        response = self.connection.getresponse()
        raw = response.read()
        return response.status, response.headers, json.loads(raw) if raw else None

    def get(self, url: str, **kwargs: Any) -> tuple[int, http.client.HTTPMessage, Any]:
        return self.request("GET", url, **kwargs)


def next_link(headers: http.client.HTTPMessage) -> str | None:
    match = re.search(r'<([^>]+)>; rel="next"', headers.get("Link") or "")
    return match.group(1) if match else None


def ok(result: tuple[int, http.client.HTTPMessage, Any]) -> tuple[http.client.HTTPMessage, Any]:
    status, headers, body = result
    assert status == 200, body
    return headers, body
