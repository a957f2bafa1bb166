"""message search: the words of every message in the database's own full-text index

SQLite: an FTS5 table over ``messages`` (external content: it holds the index, not a second
copy of the text), kept by triggers in the transaction that writes or deletes a message, and
filled here from the messages stored so far ('rebuild'). PostgreSQL: a GIN index on the
messages' ``tsvector``, an expression index, which the database keeps itself and builds here
from the rows there are. Both read words the same way: split on anything not a letter or a
digit, case folded, no stemming (``unicode61``, ``simple``). See docs/decisions.md.

Revision ID: 0023
Revises: 0022
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "content, content='messages', content_rowid='id', detail=none, tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER messages_fts_update",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_insert",
    "DROP TABLE messages_fts",
]
POSTGRESQL_UPGRADE = [
    "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('simple'::regconfig, content))"
]
POSTGRESQL_DOWNGRADE = ["DROP INDEX ix_messages_search"]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UPGRADE if sqlite else POSTGRESQL_UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWNGRADE if sqlite else POSTGRESQL_DOWNGRADE:
        op.execute(statement)
