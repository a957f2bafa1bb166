"""conversation numbers: messages and ledger entries refer to their conversation by a number
of 8 bytes instead of its 36-character id (issue 19: the id in every message row and index
entry was the largest part of the database left at 200,000 conversations)

``conversations.number`` is unique, never shown (the id stays the public name): PostgreSQL
draws it from a sequence, SQLite takes one more than the highest. ``messages`` is made again
on SQLite, which cannot drop a column a foreign key names (its full-text index keeps the
messages' ids, so only its triggers are made again); PostgreSQL rewrites the rows in place,
and gives the space back only to ``VACUUM FULL`` (docs/operations.md).

Revision ID: 0029
Revises: 0028
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

MESSAGE_COLUMNS = (
    "role VARCHAR(16) NOT NULL, author VARCHAR(16) NOT NULL, content TEXT NOT NULL, function_calls JSON NOT NULL,"
    " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cost_micros BIGINT NOT NULL,"
    " created_at DATETIME NOT NULL, cached_tokens INTEGER DEFAULT '0' NOT NULL, reply_status VARCHAR(16),"
    " reply_error TEXT, reserved_micros BIGINT DEFAULT '0' NOT NULL"
)
"""Every column of ``messages`` on SQLite but the two in front: its id and its conversation's."""
MESSAGE_VALUES = (
    "m.role, m.author, m.content, m.function_calls, m.prompt_tokens, m.completion_tokens, m.cost_micros,"
    " m.created_at, m.cached_tokens, m.reply_status, m.reply_error, m.reserved_micros"
)
FULL_TEXT_TRIGGERS = [
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
]
"""As migration 0023 made them: dropping the old table drops its triggers."""
INDEX = {"conversation_number": "ix_messages_conversation", "conversation_id": "ix_messages_conversation_id_id"}
"""The messages' index by conversation, as each revision names it."""
PENDING = "CREATE INDEX ix_messages_pending ON messages (created_at) WHERE reply_status = 'pending'"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE conversations ADD COLUMN number BIGINT")
        op.execute("UPDATE conversations SET number = rowid")
    else:
        op.execute("ALTER TABLE conversations ADD COLUMN number BIGINT")
        op.execute("CREATE SEQUENCE conversations_number_seq OWNED BY conversations.number")
        op.execute("UPDATE conversations SET number = nextval('conversations_number_seq')")
        op.execute(
            "ALTER TABLE conversations ALTER COLUMN number SET NOT NULL,"
            " ALTER COLUMN number SET DEFAULT nextval('conversations_number_seq')"
        )
    op.execute("CREATE UNIQUE INDEX ux_conversations_number ON conversations (number)")
    _refer_to_conversations_by("number", "conversation_number", "BIGINT", old="conversation_id")
    op.execute(
        "CREATE INDEX ix_ledger_entries_conversation ON ledger_entries (conversation_number)"
        " WHERE conversation_number IS NOT NULL"
    )


def downgrade() -> None:
    _refer_to_conversations_by("id", "conversation_id", "VARCHAR(36)", old="conversation_number")
    op.execute(
        "CREATE INDEX ix_ledger_entries_conversation ON ledger_entries (conversation_id)"
        " WHERE conversation_id IS NOT NULL"
    )
    op.execute("DROP INDEX ux_conversations_number")
    op.execute("ALTER TABLE conversations DROP COLUMN number")  # PostgreSQL drops the sequence it owns


def _refer_to_conversations_by(key: str, column: str, type: str, old: str) -> None:
    """Messages and ledger entries name their conversation by its ``key`` in ``column``
    (of ``type``) instead of in ``old``; the ledger's index by conversation is left to the caller."""
    other = "number" if key == "id" else "id"
    op.execute("DROP INDEX ix_ledger_entries_conversation")
    op.execute(f"ALTER TABLE ledger_entries ADD COLUMN {column} {type}")
    op.execute(
        f"UPDATE ledger_entries SET {column} ="
        f" (SELECT {key} FROM conversations c WHERE c.{other} = ledger_entries.{old}) WHERE {old} IS NOT NULL"
    )
    op.execute(f"ALTER TABLE ledger_entries DROP COLUMN {old}")
    if op.get_bind().dialect.name == "sqlite":
        _messages_made_again(key, column, type, old)
        return
    op.execute(f"ALTER TABLE messages ADD COLUMN {column} {type}")
    op.execute(f"UPDATE messages m SET {column} = c.{key} FROM conversations c WHERE c.{other} = m.{old}")
    op.execute(f"ALTER TABLE messages ALTER COLUMN {column} SET NOT NULL")
    op.execute(f"ALTER TABLE messages DROP COLUMN {old}")  # its index and foreign key with it
    op.execute(
        f"ALTER TABLE messages ADD CONSTRAINT fk_messages_{column} FOREIGN KEY ({column})"
        f" REFERENCES conversations ({key}) ON DELETE CASCADE"
    )
    op.execute(f"CREATE INDEX {INDEX[column]} ON messages ({column}, id)")


def _messages_made_again(key: str, column: str, type: str, old: str) -> None:
    """SQLite's ``messages`` copied into a new table that names the conversation by ``key``.
    Its index by number holds the number alone: SQLite adds the row's id to every index entry,
    so the order by id within a conversation comes with it (a quarter smaller than with the id
    named too)."""
    other = "number" if key == "id" else "id"
    op.execute(
        f"CREATE TABLE messages_new (id INTEGER NOT NULL, {column} {type} NOT NULL, {MESSAGE_COLUMNS},"
        f" PRIMARY KEY (id), FOREIGN KEY({column}) REFERENCES conversations ({key}) ON DELETE CASCADE)"
    )
    op.execute(
        f"INSERT INTO messages_new SELECT m.id, c.{key}, {MESSAGE_VALUES}"
        f" FROM messages m JOIN conversations c ON c.{other} = m.{old} ORDER BY m.id"
    )
    op.execute("DROP TABLE messages")
    op.execute("ALTER TABLE messages_new RENAME TO messages")
    indexed = "conversation_number" if key == "number" else "conversation_id, id"
    op.execute(f"CREATE INDEX {INDEX[column]} ON messages ({indexed})")
    op.execute(PENDING)
    for trigger in FULL_TEXT_TRIGGERS:
        op.execute(trigger)
