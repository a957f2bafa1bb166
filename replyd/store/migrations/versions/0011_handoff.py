"""handoffs apart from takeovers, keyword triggers, idle resume, a low-balance threshold

Conversations learn who turned their AI off (``ai_disabled_by``: operator, model or rule) and
why, whether a handoff still waits for a human (``needs_human``), and when a human last had
them (``human_active_at``: the AI comes back after an assistant's idle time from it).
Assistants get their keyword triggers and that idle time; accounts a balance below which an
``account.balance_low`` event is sent.

Conversations whose AI was off before this keep ``ai_disabled_by`` unset: they read as taken
over, and an idle resume counts from the time of the upgrade.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NEEDS_HUMAN = sa.text("needs_human")


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("ai_disabled_by", sa.String(16), nullable=True))
        batch.add_column(sa.Column("ai_disabled_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("needs_human", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("human_active_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE conversations SET human_active_at = CURRENT_TIMESTAMP WHERE ai_disabled")
    op.create_index("ix_conversations_human_active", "conversations", ["assistant_id", "human_active_at"])
    op.create_index(
        "ix_conversations_needs_human",
        "conversations",
        ["account_id", "updated_at", "id"],
        postgresql_where=NEEDS_HUMAN,
        sqlite_where=NEEDS_HUMAN,
    )
    with op.batch_alter_table("assistants") as batch:
        batch.add_column(sa.Column("handoff_triggers", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("resume_ai_after_s", sa.Integer(), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("balance_low_micros", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("balance_low_micros")
    with op.batch_alter_table("assistants") as batch:
        batch.drop_column("resume_ai_after_s")
        batch.drop_column("handoff_triggers")
    op.drop_index("ix_conversations_needs_human", "conversations")
    op.drop_index("ix_conversations_human_active", "conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("human_active_at")
        batch.drop_column("needs_human")
        batch.drop_column("ai_disabled_reason")
        batch.drop_column("ai_disabled_by")
