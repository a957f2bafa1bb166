"""Sign-ins of the browser console. The cookie holds a random session id; only its SHA-256 is
stored, next to the admin token that signed in, so revoking that token ends the session."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.clock import utcnow
from replyd.store.tables import ApiToken, Base, BigId

CONSOLE_SCOPES = ("admin", "operator")
"""The tokens that sign in to the console: an admin's (every page) and an operator's (conversations)."""


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    session_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    token_id: Mapped[int] = mapped_column(BigId, ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    """Put in every form of the session's pages and checked on every post."""
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


@dataclass(frozen=True)
class NewConsoleSession:
    session: ConsoleSession
    session_id: str
    """The cookie's value: given to the browser once, never stored."""


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def create_console_session(session: AsyncSession, token: ApiToken, lifetime: timedelta) -> NewConsoleSession:
    """A new sign-in with ``token``; expired sessions of its account are cleared on the way."""
    now = utcnow()
    await session.execute(
        delete(ConsoleSession).where(ConsoleSession.account_id == token.account_id, ConsoleSession.expires_at <= now)
    )
    session_id = secrets.token_urlsafe(32)
    row = ConsoleSession(
        session_sha256=hash_session_id(session_id),
        account_id=token.account_id,
        token_id=token.id,
        csrf_secret=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return NewConsoleSession(row, session_id)


async def find_console_session(session: AsyncSession, session_id: str) -> tuple[ConsoleSession, ApiToken] | None:
    """The unexpired session with this id whose token (admin or operator) is still unrevoked,
    with that token."""
    if not session_id or len(session_id) > 200:
        return None
    found = await session.execute(
        select(ConsoleSession, ApiToken)
        .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
        .where(
            ConsoleSession.session_sha256 == hash_session_id(session_id),
            ConsoleSession.expires_at > utcnow(),
            ApiToken.revoked_at.is_(None),
            ApiToken.scope.in_(CONSOLE_SCOPES),
        )
    )
    row = found.first()
    return None if row is None else (row[0], row[1])


async def end_console_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.session_sha256 == hash_session_id(session_id)))
