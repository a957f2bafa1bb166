"""retention: an account may keep its conversations for a number of days; erasure finds all

``accounts.conversation_retention_days`` (null: kept for ever, as before) lets the upkeep erase
conversations idle longer than that. Erasing a conversation (one, a customer's, or a retention
sweep's) now also finds what pointed at it elsewhere: the Idempotency-Key answers that hold its
reply (their ``conversation_id``, backfilled from the answer they stored) and the ledger entries
that name it (anonymised, not deleted). Each gets an index, so an erasure reads no whole table;
so do the messages channels kept, found by their customer.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ANSWERED_IN = {
    "sqlite": "json_extract(response, '$.conversation_id')",
    "postgresql": "response->>'conversation_id'",
}
"""The conversation an Idempotency-Key's stored answer (``ReplyResult``) was given in."""


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("conversation_retention_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("conversation_id", sa.String(36), nullable=True))
    answered_in = ANSWERED_IN[op.get_bind().dialect.name]
    op.execute(f"UPDATE idempotency_keys SET conversation_id = {answered_in} WHERE response IS NOT NULL")
    op.create_index("ix_idempotency_keys_conversation", "idempotency_keys", ["conversation_id"])
    op.create_index("ix_channel_inbound_customer", "channel_inbound", ["channel_id", "customer_identifier"])
    op.create_index(
        "ix_ledger_entries_conversation",
        "ledger_entries",
        ["conversation_id"],
        postgresql_where=sa.text("conversation_id IS NOT NULL"),
        sqlite_where=sa.text("conversation_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_conversation", "ledger_entries")
    op.drop_index("ix_channel_inbound_customer", "channel_inbound")
    op.drop_index("ix_idempotency_keys_conversation", "idempotency_keys")
    # In place, not in batch mode: SQLite's batch copy would drop and make again the table every
    # other table's foreign keys point to (accounts).
    op.drop_column("idempotency_keys", "conversation_id")
    op.drop_column("accounts", "conversation_retention_days")
