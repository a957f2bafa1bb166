"""list indexes: an index for each filter of the conversation list

The list is read newest activity first, a keyset page at a time, and filtered by assistant,
by type or by customer (the API's and the console's filters). Each filter gets an index that
ends in the order, so a page is a range of one index however many conversations the account
has; the customer's is short, since a customer has one conversation per assistant at most.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_conversations_assistant_activity": ["assistant_id", "updated_at", "id"],
    "ix_conversations_type_activity": ["account_id", "type", "updated_at", "id"],
    "ix_conversations_customer": ["account_id", "customer_identifier"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "conversations", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "conversations")
