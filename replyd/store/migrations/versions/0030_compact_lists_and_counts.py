"""the conversation list's indexes break ties of last activity by the conversation's number
instead of its 36-character id; a message's role is no longer stored (its author implies it);
and on PostgreSQL a message's zero counts and amounts are kept as NULL (issue 19: PostgreSQL's
database at 200,000 conversations was 66% of its size before the issue, the target 60%;
docs/performance.md)

A NULL costs PostgreSQL one bit of the row's null map, a zero integer 4 or 8 bytes: a
customer's message has no tokens, cost or hold once answered, and an AI's no cache hits or
hold. SQLite stores an integer 0 in the record's header alone, so there nothing changes
(``tables.Amount``). PostgreSQL gives the space of the rewritten rows back only to
``VACUUM FULL`` (docs/operations.md).

Revision ID: 0030
Revises: 0029
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

ACTIVITY_INDEXES = {
    "ix_conversations_account_activity": ("account_id, updated_at", ""),
    "ix_conversations_assistant_activity": ("assistant_id, updated_at", ""),
    "ix_conversations_type_activity": ("account_id, type, updated_at", ""),
    "ix_conversations_assigned_activity": ("assigned_token_id, updated_at", ""),
    "ix_conversations_needs_human": ("account_id, updated_at", " WHERE needs_human"),
}
"""Each index of the list by last activity: its columns before the tie-break, and its condition."""
AMOUNTS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cost_micros", "reserved_micros")
"""The messages' columns whose zero PostgreSQL keeps as NULL."""


def upgrade() -> None:
    _activity_indexes_broken_by("number")
    op.execute("ALTER TABLE messages DROP COLUMN role")
    if op.get_bind().dialect.name == "postgresql":
        _alter_amounts("DROP NOT NULL", "DROP DEFAULT")
        _set_amounts("NULLIF({c}, 0)", where="{c} = 0")


def downgrade() -> None:
    _activity_indexes_broken_by("id")
    op.execute("ALTER TABLE messages ADD COLUMN role VARCHAR(16) DEFAULT 'assistant' NOT NULL")
    op.execute("UPDATE messages SET role = 'user' WHERE author = 'customer'")
    if op.get_bind().dialect.name == "postgresql":
        _set_amounts("COALESCE({c}, 0)", where="{c} IS NULL")
        _alter_amounts("SET NOT NULL")
        op.execute("ALTER TABLE messages ALTER COLUMN role DROP DEFAULT")  # 0001 made it without one
        op.execute("ALTER TABLE messages ALTER COLUMN cached_tokens SET DEFAULT 0")  # as 0004 and 0007 made them
        op.execute("ALTER TABLE messages ALTER COLUMN reserved_micros SET DEFAULT 0")


def _activity_indexes_broken_by(column: str) -> None:
    for name, (columns, where) in ACTIVITY_INDEXES.items():
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON conversations ({columns}, {column}){where}")


def _alter_amounts(*changes: str) -> None:
    op.execute("ALTER TABLE messages " + ", ".join(f"ALTER COLUMN {c} {change}" for c in AMOUNTS for change in changes))


def _set_amounts(value: str, where: str) -> None:
    """Each amount set to ``value`` in the rows where any is as ``where`` says (``{c}``: the column)."""
    assignments = ", ".join(f"{c} = {value.format(c=c)}" for c in AMOUNTS)
    op.execute(f"UPDATE messages SET {assignments} WHERE {' OR '.join(where.format(c=c) for c in AMOUNTS)}")
