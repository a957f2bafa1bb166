"""widget: the web chat widget's settings per assistant, and each account's widget secret

A widget is found by its public key (in the page's script tag, never an API token); the
account's secret signs visitor ids and checks an integrator's signed identities.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "widgets",
        sa.Column("assistant_id", BIG_ID, sa.ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("public_key", sa.String(40), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("theme", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("accounts", sa.Column("widget_secret", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("widget_secret")
    op.drop_table("widgets")
