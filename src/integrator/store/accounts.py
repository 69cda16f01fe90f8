"""Accounts and their API tokens. Only a SHA-256 hash of each token is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from integrator.errors import NotFound, ValidationFailed
from integrator.ids import new_object_id
from integrator.store.models import Account, ApiToken, utcnow

DEFAULT_ACCOUNT = "default"
#: Scope of a hook's one-time token outside a connector: invoke the account's exports and
#: imports, run its flows, use the state API (``integrator.api.auth`` enforces it).
INVOKE_SCOPE = "invoke"
#: Scope of a connector hook's one-time token: only the connector's own resources.
CONNECTOR_SCOPE = "connector"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, the token, the connector the token is bound to, if any,
    and what the token may do (``scope``: None for everything, else ``INVOKE_SCOPE`` or
    ``CONNECTOR_SCOPE``, the one-time tokens of hooks)."""

    account_id: str
    token_id: str
    connector_id: str | None = None
    scope: str | None = None

    @property
    def user_id(self) -> str:
        # One user per account for now: the account id doubles as integrator.io's ``_userId``.
        return self.account_id


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A 32-hex-character token, the shape integrator.io issues."""
    return secrets.token_hex(16)


def find_account(session: Session, name: str) -> Account:
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        raise NotFound(f"No account named '{name}'.")
    return account


def create_account(session: Session, name: str, token: str | None = None) -> tuple[Account, str]:
    """Create an account with its first token; return both (the token in clear, once)."""
    if not name or len(name) > 100:
        raise ValidationFailed.one(
            "invalid_field", "Account name must be 1-100 characters.", "name"
        )
    if session.scalar(select(Account.id).where(Account.name == name)):
        raise ValidationFailed.one("duplicate", f"An account named '{name}' exists.", "name")
    account = Account(id=new_object_id(), name=name, created_at=utcnow())
    session.add(account)
    session.flush()
    clear = create_token(session, account, token=token, name="initial")
    return account, clear


def create_token(
    session: Session,
    account: Account,
    *,
    token: str | None = None,
    name: str | None = None,
    connector_id: str | None = None,
) -> str:
    """Add a token to ``account``; return it in clear (it cannot be read back later)."""
    clear = token or new_token()
    if len(clear) < 16:
        raise ValidationFailed.one("invalid_field", "Tokens must be at least 16 characters.")
    if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(clear))):
        raise ValidationFailed.one("duplicate", "That token is already in use.")
    session.add(
        ApiToken(
            id=new_object_id(),
            account_id=account.id,
            token_hash=hash_token(clear),
            name=name,
            connector_id=connector_id,
            created_at=utcnow(),
        )
    )
    session.flush()
    return clear


def revoke_token(session: Session, token_or_id: str) -> ApiToken:
    """Revoke a token given in clear or by its id."""
    row = session.scalar(
        select(ApiToken).where(
            (ApiToken.id == token_or_id) | (ApiToken.token_hash == hash_token(token_or_id))
        )
    )
    if row is None:
        raise NotFound("No such token.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def list_tokens(session: Session, account: Account) -> list[ApiToken]:
    """The account's own tokens (hooks' one-time tokens, which expire, are not listed)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.account_id == account.id, ApiToken.expires_at.is_(None))
            .order_by(ApiToken.id)
        )
    )


_AUTHENTICATE = select(
    ApiToken.id, ApiToken.account_id, ApiToken.connector_id, ApiToken.scope
).where(
    ApiToken.token_hash == bindparam("token_hash"),
    ApiToken.revoked_at.is_(None),
    ApiToken.expires_at.is_(None) | (ApiToken.expires_at > bindparam("now")),
)


def authenticate(
    db: Session | Connection, token: str, now: datetime | None = None
) -> Principal | None:
    """The principal for a bearer token, or None when it is unknown, revoked or expired."""
    params = {"token_hash": hash_token(token), "now": now or utcnow()}
    row = db.execute(_AUTHENTICATE, params).first()
    if row is None:
        return None
    return Principal(
        account_id=row.account_id,
        token_id=row.id,
        connector_id=row.connector_id,
        scope=row.scope,
    )


def bootstrap(session: Session, token: str | None) -> str | None:
    """On an empty database create the default account; return its token (else None)."""
    if session.scalar(select(func.count()).select_from(Account)):
        return None
    _, clear = create_account(session, DEFAULT_ACCOUNT, token=token)
    return clear
