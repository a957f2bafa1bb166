"""token scopes; conversations carry their account for listing

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="admin"))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("account_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE conversations SET account_id = "
        "(SELECT assistants.account_id FROM assistants WHERE assistants.id = conversations.assistant_id)"
    )
    with op.batch_alter_table("conversations") as batch:
        batch.alter_column("account_id", existing_type=sa.BigInteger(), nullable=False)
        batch.create_index("ix_conversations_account_activity", ["account_id", "updated_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_account_activity")
        batch.drop_column("account_id")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scope")
