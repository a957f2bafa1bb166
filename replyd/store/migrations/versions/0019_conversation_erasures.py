"""conversation erasures: each account counts the erasures of its conversations

The console's live pages noticed an erased conversation by the account's number of
conversations going down, counted once a second per open page over all of them. They now
compare this count instead: one row read, however many conversations the account has.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("conversations_erased", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    # In place, not in batch mode: SQLite's batch copy would drop and make again the table every
    # other table's foreign keys point to.
    op.drop_column("accounts", "conversations_erased")
