"""integer times on SQLite: every time as the microseconds since 1970, instead of SQLAlchemy's
26-character text (PostgreSQL's timestamptz is left as it is)

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

TIMES = {
    "accounts": ["webhook_secret_rotated_at", "created_at"],
    "api_tokens": ["created_at", "revoked_at"],
    "assistants": ["created_at", "updated_at"],
    "conversations": ["human_active_at", "created_at", "updated_at"],
    "messages": ["created_at"],
    "ledger_entries": ["created_at"],
    "idempotency_keys": ["created_at"],
    "channels": ["created_at"],
    "channel_inbound": ["received_at", "answered_at"],
    "channel_message_status": ["updated_at"],
    "event_endpoints": ["failing_since", "created_at"],
    "events": ["created_at"],
    "deliveries": ["next_attempt_at", "locked_until", "delivered_at", "created_at"],
    "delivery_attempts": ["attempted_at"],
    "widgets": ["created_at", "updated_at"],
    "conversation_notes": ["created_at"],
    "console_sessions": ["created_at", "expires_at"],
    "canned_replies": ["created_at"],
}
"""Each table's times at revision 0026."""

TO_MICROSECONDS = (
    "CAST(strftime('%s', substr({c}, 1, 19)) AS INTEGER) * 1000000 + CAST(substr({c} || '.000000', 21, 6) AS INTEGER)"
)
"""``2026-12-04 17:56:06.123456`` (with a space or a ``T``; the fraction may be missing) as an
integer; SQLite's ``strftime('%s')`` reads the first 19 characters as UTC."""

TO_TEXT = "strftime('%Y-%m-%d %H:%M:%S', {c} / 1000000, 'unixepoch') || '.' || printf('%06d', {c} % 1000000)"


def upgrade() -> None:
    _rewrite("text", TO_MICROSECONDS)


def downgrade() -> None:
    _rewrite("integer", TO_TEXT)


def _rewrite(stored_as: str, expression: str) -> None:
    """Every time column's values stored as ``stored_as``, rewritten by ``expression``, on SQLite."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in TIMES.items():
        assignments = ", ".join(
            f"{c} = CASE WHEN typeof({c}) = '{stored_as}' THEN {expression.format(c=c)} ELSE {c} END" for c in columns
        )
        op.execute(f"UPDATE {table} SET {assignments}")
