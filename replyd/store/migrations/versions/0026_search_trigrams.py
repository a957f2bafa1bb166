"""search trigrams: customer identifiers and variables' values indexed by every piece of three
characters, so a search finds a piece of one without reading every conversation (issue 19)

SQLite: ``conversation_search_text`` holds each conversation's identifier and variables' values
as one text (a row of its own, with an integer key: a conversation's id is a string, and the
rowid of a table without an INTEGER PRIMARY KEY may change on VACUUM), kept by triggers on
``conversations``; ``conversation_search`` is an FTS5 index of that text with the ``trigram``
tokenizer (SQLite 3.34 and later), kept by triggers on the text, as 0023 keeps the messages'
index. ``messages_fts_terms`` lists the messages' index's words, one row per message holding
each, which tells a search how common a word is without reading its matches.

PostgreSQL: the same text, lower-cased, in a ``conversation_search_text`` of its own, kept by
triggers that fire only when an identifier or the variables change (a GIN index on
``conversations`` itself would take new entries with every reply, which moves a conversation's
``updated_at``: +0.15 ms of the database's time each), under ``pg_trgm``'s GIN index.
``pg_trgm`` ships with PostgreSQL (in the ``postgresql-contrib`` package on some systems) and is
a trusted extension: an owner of the database may create it. Where it cannot be created, the
migration stops and says what the operator must do (docs/operations.md).

Revision ID: 0026
Revises: 0025
"""

from alembic import op
from sqlalchemy import exc

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

SQLITE_TEXT = (
    "coalesce(new.customer_identifier, '') || char(10) ||"
    " coalesce((SELECT group_concat(CAST(value AS TEXT), char(10)) FROM json_each(new.variables)), '')"
)
"""What a search for a piece reads of a conversation, as ``store/search.py`` compares it."""
SQLITE_UPGRADE = [
    "CREATE TABLE conversation_search_text (id INTEGER PRIMARY KEY,"
    " conversation_id VARCHAR(36) NOT NULL UNIQUE, text TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE conversation_search USING fts5("
    "text, content='conversation_search_text', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER conversation_search_insert AFTER INSERT ON conversation_search_text BEGIN"
    " INSERT INTO conversation_search(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER conversation_search_delete AFTER DELETE ON conversation_search_text BEGIN"
    " INSERT INTO conversation_search(conversation_search, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER conversation_search_update AFTER UPDATE ON conversation_search_text BEGIN"
    " INSERT INTO conversation_search(conversation_search, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO conversation_search(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations BEGIN"
    f" INSERT INTO conversation_search_text(conversation_id, text) VALUES (new.id, {SQLITE_TEXT}); END",
    "CREATE TRIGGER conversations_search_update AFTER UPDATE OF customer_identifier, variables ON conversations"
    " WHEN new.customer_identifier IS NOT old.customer_identifier OR new.variables IS NOT old.variables BEGIN"
    f" UPDATE conversation_search_text SET text = {SQLITE_TEXT} WHERE conversation_id = new.id; END",
    "CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations BEGIN"
    " DELETE FROM conversation_search_text WHERE conversation_id = old.id; END",
    "INSERT INTO conversation_search_text(conversation_id, text)"
    f" SELECT id, {SQLITE_TEXT.replace('new.', '')} FROM conversations",
    "CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, 'instance')",
]
SQLITE_DOWNGRADE = [
    "DROP TABLE messages_fts_terms",
    "DROP TRIGGER conversations_search_delete",
    "DROP TRIGGER conversations_search_update",
    "DROP TRIGGER conversations_search_insert",
    "DROP TABLE conversation_search",
    "DROP TABLE conversation_search_text",
]
POSTGRESQL_UPGRADE = [
    "CREATE FUNCTION replyd_search_text(identifier text, variables json) RETURNS text LANGUAGE sql IMMUTABLE"
    " AS $$ SELECT lower(coalesce(identifier, '') || E'\\n' || coalesce(CASE WHEN json_typeof(variables) = 'object'"
    " THEN (SELECT string_agg(value, E'\\n') FROM json_each_text(variables)) END, '')) $$",
    "CREATE TABLE conversation_search_text (conversation_id VARCHAR(36) PRIMARY KEY"
    " REFERENCES conversations (id) ON DELETE CASCADE, text TEXT NOT NULL)",
    "CREATE FUNCTION replyd_keep_search_text() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO conversation_search_text (conversation_id, text)"
    " VALUES (NEW.id, replyd_search_text(NEW.customer_identifier, NEW.variables))"
    " ON CONFLICT (conversation_id) DO UPDATE SET text = excluded.text; RETURN NULL; END $$",
    "CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations"
    " FOR EACH ROW EXECUTE FUNCTION replyd_keep_search_text()",
    "CREATE TRIGGER conversations_search_update AFTER UPDATE OF customer_identifier, variables ON conversations"
    " FOR EACH ROW WHEN (OLD.customer_identifier IS DISTINCT FROM NEW.customer_identifier"
    " OR OLD.variables::text IS DISTINCT FROM NEW.variables::text) EXECUTE FUNCTION replyd_keep_search_text()",
    "INSERT INTO conversation_search_text (conversation_id, text)"
    " SELECT id, replyd_search_text(customer_identifier, variables) FROM conversations",
    "CREATE INDEX ix_conversation_search_text_trigrams ON conversation_search_text USING gin (text gin_trgm_ops)",
]
POSTGRESQL_DOWNGRADE = [
    "DROP TRIGGER conversations_search_update ON conversations",
    "DROP TRIGGER conversations_search_insert ON conversations",
    "DROP TABLE conversation_search_text",
    "DROP FUNCTION replyd_keep_search_text()",
    "DROP FUNCTION replyd_search_text(text, json)",
]
NO_PG_TRGM = (
    "replyd's search needs PostgreSQL's pg_trgm extension, which this database user could not create ({error})."
    " Install PostgreSQL's contrib modules if they are missing (e.g. the postgresql-contrib package), then"
    " have a superuser or the database's owner run CREATE EXTENSION pg_trgm in this database, and migrate again."
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UPGRADE:
            op.execute(statement)
        return
    _create_pg_trgm()
    for statement in POSTGRESQL_UPGRADE:
        op.execute(statement)


def _create_pg_trgm() -> None:
    """In a savepoint, so that a refusal is reported in the operator's terms, not as a failed transaction."""
    try:
        with op.get_bind().begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except exc.DBAPIError as error:
        raise RuntimeError(NO_PG_TRGM.format(error=error.orig)) from error


def downgrade() -> None:
    """Leaves ``pg_trgm`` installed: other schemas of the database may use it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWNGRADE if sqlite else POSTGRESQL_DOWNGRADE:
        op.execute(statement)
