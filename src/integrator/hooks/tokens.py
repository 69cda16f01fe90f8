"""One-time tokens: the bearer token a hook, wrapper, installer, uninstaller or settings call
gets (``options.bearerToken``) to call back into ``/v1``.

A token works until the call returns (``CallToken.revoke`` on the way out, whatever
happened) or for ``TTL_SECONDS`` at most. What it may do depends on who the call is for:

- a connector's call (``connector_id`` set): the token's scope is ``connector``; it sees
  only resources whose ``_connectorId`` is that connector;
- any other call: the scope is ``invoke``; it may only invoke the account's saved exports and
  imports, run its flows, read a connection and use the state API.

``integrator.api.auth`` enforces both. Only the token's SHA-256 hash is stored, as for every
token; the ``ot_`` prefix tells people reading a log what kind of token they are looking at.
The API looks one-time tokens up on every request (never cached), so a revoked one stops
working at once in every process.

Usage (the hook runner, ``hooks/runner.py``)::

    token = CallToken(sessions, account_id, connector_id)
    options["bearerToken"] = token.clear  # stored when first presented: token.store()
    try:
        result = run_the_hook(options)
    finally:
        token.revoke()

``one_time_token`` is the same for a block that hands its token out at once.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from integrator.ids import new_object_id
from integrator.store.accounts import CONNECTOR_SCOPE, INVOKE_SCOPE, hash_token
from integrator.store.models import ApiToken, utcnow

log = logging.getLogger("integrator.hooks")

#: A call's token expires after 15 minutes even if nobody revokes it (a crashed worker).
TTL_SECONDS = 900
PREFIX = "ot_"

#: Where the context manager opens its own short transactions: an ``Engine``, or anything that
#: returns a new ``Session`` when called (``sessionmaker``: ``RunnerBase.sessions``,
#: ``AppContext.sessions``).
Sessions = Engine | Callable[[], Session]


def _session(sessions: Sessions) -> Session:
    return Session(sessions) if isinstance(sessions, Engine) else sessions()


def mint(
    session: Session,
    account_id: str,
    *,
    connector_id: str | None,
    ttl_seconds: float = TTL_SECONDS,
    now: datetime | None = None,
    clear: str | None = None,
) -> str:
    """Store a new one-time token of ``account_id``; return it in clear (``ot_…``).

    Its scope is ``connector`` when ``connector_id`` is given, else ``invoke``. ``now``
    exists for tests (a token minted in the past is already expired); ``clear`` stores a
    token drawn earlier (``CallToken``).
    """
    clear = clear or new_clear_token()
    moment = now or utcnow()
    session.add(
        ApiToken(
            id=new_object_id(),
            account_id=account_id,
            token_hash=hash_token(clear),
            name="one-time",
            connector_id=connector_id,
            scope=CONNECTOR_SCOPE if connector_id is not None else INVOKE_SCOPE,
            created_at=moment,
            expires_at=moment + timedelta(seconds=ttl_seconds),
        )
    )
    session.flush()
    return clear


def new_clear_token() -> str:
    return PREFIX + secrets.token_hex(20)


class CallToken:
    """A script call's one-time token, stored only when first presented.

    Scripts reach the API only through their API module, which goes through the runner:
    so the token is drawn at once (it is in ``options.bearerToken``) but stored the first
    time the module uses it, and revoked when the call returns if it was stored. A token
    never used during its call was never valid, which is what "valid until the call
    returns" asks, and most hook calls then cost no database write at all. Stack calls
    send the token away at once, so they ``store()`` before the call.
    """

    def __init__(
        self,
        sessions: Sessions,
        account_id: str,
        connector_id: str | None = None,
        *,
        ttl_seconds: float = TTL_SECONDS,
    ) -> None:
        self.clear = new_clear_token()
        self._sessions = sessions
        self._account_id = account_id
        self._connector_id = connector_id
        self._ttl = ttl_seconds
        self._stored = False
        self._lock = threading.Lock()

    def store(self) -> str:
        with self._lock:
            if not self._stored:
                with _session(self._sessions) as session, session.begin():
                    mint(
                        session,
                        self._account_id,
                        connector_id=self._connector_id,
                        ttl_seconds=self._ttl,
                        clear=self.clear,
                    )
                self._stored = True
        return self.clear

    def revoke(self) -> None:
        """The call returned: the token stops working (a failed revoke is logged; the token
        expires anyway)."""
        with self._lock:
            if not self._stored:
                return
            try:
                with _session(self._sessions) as session, session.begin():
                    revoke(session, self.clear)
            except Exception:
                log.exception("Revoking a one-time token of account %s failed", self._account_id)


def revoke(session: Session, token: str) -> bool:
    """Make a one-time token stop working (the call it was minted for returned): its row is
    deleted. Returns whether there was one. Never touches an account's own tokens."""
    result = session.execute(
        delete(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.expires_at.is_not(None)
        ),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(result, "rowcount", 0))


def purge_expired(session: Session, now: datetime | None = None) -> int:
    """Delete the one-time tokens expired at ``now`` (left by calls that never revoked theirs,
    e.g. a killed worker); returns how many. Reads first, so a tick with nothing to purge
    writes nothing (on SQLite a write takes the database's one write lock)."""
    moment = now or utcnow()
    expired = ApiToken.expires_at <= moment
    if session.scalar(select(ApiToken.id).where(expired).limit(1)) is None:
        return 0
    result = session.execute(
        delete(ApiToken).where(expired), execution_options={"synchronize_session": False}
    )
    return int(getattr(result, "rowcount", 0))


def purge_expired_tokens(sessions: Sessions) -> int:
    """Housekeeping (the scheduler's tick): ``purge_expired`` in its own transaction."""
    with _session(sessions) as session, session.begin():
        return purge_expired(session)


@contextmanager
def one_time_token(
    sessions: Sessions,
    account_id: str,
    connector_id: str | None = None,
    *,
    ttl_seconds: float = TTL_SECONDS,
) -> Iterator[str]:
    """A one-time token for the duration of the block: stored (and committed, so the API sees
    it) on entry, revoked on exit, even when the block raises (``CallToken``)."""
    token = CallToken(sessions, account_id, connector_id, ttl_seconds=ttl_seconds)
    try:
        yield token.store()
    finally:
        token.revoke()


__all__ = [
    "PREFIX",
    "TTL_SECONDS",
    "CallToken",
    "Sessions",
    "mint",
    "one_time_token",
    "purge_expired",
    "purge_expired_tokens",
    "revoke",
]
