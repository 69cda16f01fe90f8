"""Virtual exports read one page per call (seed 004's ``/connections/{id}/export/pages``).

Each answer carries a ``pagedExportState`` that the client sends back to get the next page.
The state is signed (HMAC-SHA256 with a key derived from the secret key) and bound to the
account, the connection and the export document, so a modified or replayed-elsewhere state is
refused; it expires after ``STATE_TTL_SECONDS``.

The export itself keeps running between calls in this process (a generator per ``cursor``), so
page N+1 costs one page of work. When the cursor is gone (expired, evicted, or another API
process answers), the export is re-run and the first pages are skipped: slower, still correct.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from integrator.errors import BadRequest

#: How long a state may be sent back.
STATE_TTL_SECONDS = 3600
#: Open export sessions kept in memory at most (least recently used go first).
MAX_SESSIONS = 256

Page = list[dict[str, Any]]
#: Starts the export: ``(pages, attachment)``; the attachment (e.g. the debug log the export
#: records into) lives as long as the export and comes back with each page.
PageSource = Callable[[], tuple[Iterator[Page], Any]]


@dataclass
class _Session:
    pages: Iterator[Page]
    next_index: int
    lookahead: Page | None
    lock: threading.Lock
    attachment: Any = None


def export_digest(export: dict[str, Any]) -> str:
    """A stable fingerprint of the export document the state belongs to."""
    return hashlib.sha256(orjson.dumps(export, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class PagedExports:
    """Signs and checks states, and keeps running exports between calls."""

    def __init__(self, signing_key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = signing_key
        self._clock = clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def _sign(self, scope: str, state: dict[str, Any]) -> str:
        fields = {k: state[k] for k in ("cursor", "pageIndex", "issuedAt", "done")}
        message = scope.encode() + b"|" + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _verify(self, scope: str, state: Any) -> tuple[str, int]:
        if not isinstance(state, dict):
            raise BadRequest("invalid_state", "pagedExportState must be an object.")
        try:
            cursor, index = str(state["cursor"]), int(state["pageIndex"])
            issued, sig = int(state["issuedAt"]), str(state["sig"])
            expected = self._sign(scope, state)
        except (KeyError, TypeError, ValueError):
            raise BadRequest(
                "invalid_state", "pagedExportState is incomplete.", "pagedExportState"
            ) from None
        if not hmac.compare_digest(sig, expected):
            raise BadRequest(
                "invalid_state",
                "pagedExportState was modified or belongs to another export.",
                "pagedExportState.sig",
            )
        if self._clock() - issued > STATE_TTL_SECONDS:
            raise BadRequest("state_expired", "pagedExportState has expired: start again.")
        if state.get("done"):
            raise BadRequest("invalid_state", "The export is already done.", "pagedExportState")
        return cursor, index

    def page(
        self, scope: str, source: PageSource, state: Any | None
    ) -> tuple[Page, dict[str, Any], Any]:
        """The next page for ``state`` (the first page when None), the state to send back and
        the export's attachment.

        ``scope`` binds the state (account, connection, export digest); ``source`` starts the
        export from its beginning.
        """
        if state is None:
            cursor, index = secrets.token_hex(12), 0
        else:
            cursor, index = self._verify(scope, state)
        session = self._take(cursor, index, source)
        with session.lock:
            page = session.lookahead if session.lookahead is not None else []
            session.lookahead = next(session.pages, None)
            session.next_index = index + 1
            done = session.lookahead is None
        if not done:
            self._keep(cursor, session)
        answer = {
            "cursor": cursor,
            "pageIndex": index + 1,
            "issuedAt": int(self._clock()),
            "done": done,
        }
        answer["sig"] = self._sign(scope, answer)
        return page, answer, session.attachment

    def _take(self, cursor: str, index: int, source: PageSource) -> _Session:
        with self._lock:
            session = self._sessions.pop(cursor, None)
        if session is not None and session.next_index == index:
            return session
        # Start (or restart) the export and skip to page ``index``.
        pages, attachment = source()
        lookahead = next(pages, None)
        for _ in range(index):
            if lookahead is None:
                break
            lookahead = next(pages, None)
        return _Session(pages, index, lookahead, threading.Lock(), attachment)

    def _keep(self, cursor: str, session: _Session) -> None:
        with self._lock:
            self._sessions[cursor] = session
            while len(self._sessions) > MAX_SESSIONS:
                _, evicted = self._sessions.popitem(last=False)
                close = getattr(evicted.pages, "close", None)
                if close is not None:
                    close()
