"""Admin API tokens: created once (the secret is shown to the caller and never stored), kept
as sha256, checked on every admin request, listed and revoked from the ``vitrine`` command.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.catalog.models import AdminToken, utcnow
from backend.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized

TOKEN_PREFIX = "vt_"
NAME_MAX = 128


def hash_token(token: str) -> str:
    """The stored form of a token: sha256 hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(*, session: Session, name: str) -> str:
    """A new token named ``name``; returns the secret, which only its hash outlives."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidRequest(f"a token name is 1 to {NAME_MAX} characters")
    if session.scalars(sa.select(AdminToken).where(AdminToken.name == name)).first():
        raise Conflict(f"a token named {name!r} exists already: pick another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(AdminToken(name=name, token_hash=hash_token(token)))
    session.flush()
    return token


def list_tokens(*, session: Session) -> list[AdminToken]:
    """Every token, revoked ones included, oldest first."""
    return list(session.scalars(sa.select(AdminToken).order_by(AdminToken.id)))


def revoke_token(*, session: Session, name: str) -> AdminToken:
    """Revoke the token ``name`` (it then answers 403); NotFound if there is none."""
    token = session.scalars(sa.select(AdminToken).where(AdminToken.name == name)).first()
    if token is None:
        raise NotFound(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def authenticate(*, session: Session, token: str | None) -> AdminToken:
    """The token a request presents: Unauthorized if missing or unknown, Forbidden if revoked."""
    if not token:
        raise Unauthorized("admin routes need an 'Authorization: Bearer <token>' header")
    found = session.scalars(
        sa.select(AdminToken).where(AdminToken.token_hash == hash_token(token))
    ).first()
    if found is None:
        raise Unauthorized("unknown admin token")
    if found.revoked:
        raise Forbidden(f"admin token {found.name!r} has been revoked")
    found.last_used_at = utcnow()
    session.flush()
    return found
