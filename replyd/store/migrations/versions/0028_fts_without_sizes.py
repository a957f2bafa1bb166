"""the full-text index of messages without each message's length, on SQLite (FTS5's
``columnsize=0``: no search of replyd ranks by length, and the lengths took 19 MiB at 200,000
conversations); rebuilt from the messages

Revision ID: 0028
Revises: 0027
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

OPTIONS = "content, content='messages', content_rowid='id', detail=none, tokenize='unicode61 remove_diacritics 0'"
"""As migration 0023 made the index."""


def upgrade() -> None:
    _rebuild(OPTIONS + ", columnsize=0")


def downgrade() -> None:
    _rebuild(OPTIONS)


def _rebuild(options: str) -> None:
    """The index made again with ``options`` (its triggers, which name it, stay), and the
    vocabulary that search counts words with (migration 0026) on it."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE messages_fts_terms")
    op.execute("DROP TABLE messages_fts")
    op.execute(f"CREATE VIRTUAL TABLE messages_fts USING fts5({options})")
    op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    op.execute("CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, 'instance')")
