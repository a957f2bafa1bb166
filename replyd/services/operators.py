"""Sign-ins of the browser console's operators: an admin token (the account's owners: every
page) or an operator token (one named person: the conversations) opens a session; revoking the
token ends every session it opened. The console keeps the session id in a cookie."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.errors import Forbidden, Unauthenticated
from replyd.store import accounts, console_sessions
from replyd.store.tables import ApiToken

SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Operator:
    """Who is signed in: the account whose data the pages show, and the session's secrets."""

    account_id: int
    token_id: int
    csrf_token: str
    session_id: str
    is_admin: bool
    """An admin token's session: the account's settings too, not only its conversations."""
    name: str | None
    """The token's name (an operator token always has one)."""

    @property
    def who(self) -> str:
        """As events and notes name whoever acted: ``Anna (console token 7)``."""
        return f"{self.name} (console token {self.token_id})" if self.name else f"console token {self.token_id}"


class OperatorSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def sign_in(self, secret: str) -> Operator:
        """A new session opened with an admin token; ``Unauthenticated`` or ``Forbidden`` say why not."""
        secret = secret.strip()
        if not secret or len(secret) > 200 or "\x00" in secret:
            raise Unauthenticated("Paste an API token: it starts with rpd_.")
        async with self._sessions() as session, session.begin():
            token = await accounts.find_active_token(session, secret)
            if token is None:
                raise Unauthenticated("That token is unknown or revoked.")
            if token.scope not in console_sessions.CONSOLE_SCOPES:
                raise Forbidden(
                    "That is a replies token, which may only generate replies. Sign in with an admin or operator token."
                )
            new = await console_sessions.create_console_session(session, token, SESSION_LIFETIME)
        return _operator(token, new.session.csrf_secret, new.session_id)

    async def find(self, session_id: str) -> Operator | None:
        """The signed-in operator of an unexpired session whose token is still unrevoked."""
        async with self._sessions() as session:
            found = await console_sessions.find_console_session(session, session_id)
        return None if found is None else _operator(found[1], found[0].csrf_secret, session_id)

    async def sign_out(self, session_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await console_sessions.end_console_session(session, session_id)


def _operator(token: ApiToken, csrf_token: str, session_id: str) -> Operator:
    return Operator(token.account_id, token.id, csrf_token, session_id, token.scope == "admin", token.name)
