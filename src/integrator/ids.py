"""Identifiers: 24-hex object ids like integrator.io's, and short API identifiers."""

from __future__ import annotations

import os
import re
import secrets
import threading
import time

_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_counter_lock = threading.Lock()
_counter = int.from_bytes(os.urandom(3), "big")
_process_part = os.urandom(5)


def new_object_id() -> str:
    """A MongoDB-style ObjectId: 4-byte time, 5 random bytes per process, 3-byte counter.

    Ids sort by creation time, which keeps list order stable and index inserts cheap.
    """
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) % 0xFFFFFF
        count = _counter
    raw = int(time.time()).to_bytes(4, "big") + _process_part + count.to_bytes(3, "big")
    return raw.hex()


def is_object_id(value: object) -> bool:
    """True when ``value`` is a 24-character lower-case hex string."""
    return isinstance(value, str) and bool(_OBJECT_ID.match(value))


def new_api_identifier(prefix: str) -> str:
    """``e``/``i`` followed by 10 random hex characters (``e53ec313a1``)."""
    return prefix + secrets.token_hex(5)
