"""notes, canned replies, labels, operators: operators' private notes on a conversation, an
account's canned replies, labels on conversations, a name on API tokens (operators' tokens) and
the sign-in a conversation is assigned to

Notes are a table of their own, not messages, so nothing that reads messages can show one to
the customer or the model.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversation_notes",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column(
            "conversation_id", sa.String(36), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_conversation_notes_conversation_id_id", "conversation_notes", ["conversation_id", "id"])
    op.create_table(
        "canned_replies",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account_id", "title", name="uq_canned_replies_account_id_title"),
    )
    op.create_table(
        "conversation_labels",
        sa.Column(
            "conversation_id",
            sa.String(36),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(40), primary_key=True),
    )
    op.create_index("ix_conversation_labels_label", "conversation_labels", ["label"])
    op.add_column("api_tokens", sa.Column("name", sa.String(80), nullable=True))
    op.add_column("conversations", sa.Column("assigned_token_id", BIG_ID, nullable=True))
    op.create_index("ix_conversations_assigned_activity", "conversations", ["assigned_token_id", "updated_at", "id"])


def downgrade() -> None:
    # Not in batch mode: a batch copy of a table drops the original, and its foreign keys'
    # ON DELETE CASCADE would take the messages (or console sessions) with it.
    op.drop_index("ix_conversations_assigned_activity", "conversations")
    op.drop_column("conversations", "assigned_token_id")
    op.drop_column("api_tokens", "name")
    op.drop_index("ix_conversation_labels_label", "conversation_labels")
    op.drop_table("conversation_labels")
    op.drop_table("canned_replies")
    op.drop_index("ix_conversation_notes_conversation_id_id", "conversation_notes")
    op.drop_table("conversation_notes")
