"""Each assistant's chat widget: its public key, the origins whose pages may use it, and its
look; and the account's widget secret, which signs visitor ids."""

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.clock import utcnow
from replyd.store.tables import Account, Base, BigId

KEY_PREFIX = "wk_"


class Widget(Base):
    __tablename__ = "widgets"

    assistant_id: Mapped[int] = mapped_column(BigId, ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    public_key: Mapped[str] = mapped_column(String(40), unique=True)
    """In the page's script tag for anyone to read: it names the widget and grants nothing else."""
    enabled: Mapped[bool]
    allowed_origins: Mapped[list[Any]]
    """``https://shop.example.com`` and the like: the only pages the widget answers."""
    theme: Mapped[dict[str, Any]]
    """Colour, title, greeting, position, language and strings, as ``WidgetConfig`` checks them."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def new_public_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(18)


async def get_widget(session: AsyncSession, account_id: int, assistant_id: int) -> Widget | None:
    found: Widget | None = await session.scalar(
        select(Widget).where(Widget.assistant_id == assistant_id, Widget.account_id == account_id)
    )
    return found


async def find_by_key(session: AsyncSession, public_key: str) -> Widget | None:
    found: Widget | None = await session.scalar(select(Widget).where(Widget.public_key == public_key))
    return found


async def save_widget(
    session: AsyncSession,
    account_id: int,
    assistant_id: int,
    enabled: bool,
    allowed_origins: list[str],
    theme: dict[str, Any],
) -> Widget:
    """The assistant's widget with these settings; its key is made once, on the first save."""
    widget = await get_widget(session, account_id, assistant_id)
    now = utcnow()
    if widget is None:
        widget = Widget(assistant_id=assistant_id, account_id=account_id, public_key=new_public_key(), created_at=now)
        session.add(widget)
    widget.enabled, widget.allowed_origins, widget.theme, widget.updated_at = enabled, allowed_origins, theme, now
    await session.flush()
    return widget


async def widget_secret(session: AsyncSession, account_id: int) -> str:
    """The account's widget secret, made on first use. Two first uses at once may each make one:
    the conditional update keeps the first written, and both read that one back."""
    secret = await session.scalar(select(Account.widget_secret).where(Account.id == account_id))
    if secret is None:
        await session.execute(
            update(Account)
            .where(Account.id == account_id, Account.widget_secret.is_(None))
            .values(widget_secret=secrets.token_urlsafe(32))
        )
        secret = await session.scalar(select(Account.widget_secret).where(Account.id == account_id))
    assert secret is not None
    return secret
