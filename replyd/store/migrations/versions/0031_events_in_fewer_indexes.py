"""an event is written into two indexes fewer: its public id (``evt_...``) is no longer kept
unique by an index, and the events still to fan out are indexed apart, alone (issue 14:
writing a reply's events is a third of what one event endpoint costs a reply;
docs/performance.md)

Nothing looks an event up by its public id, and a new one cannot repeat an old (the
microsecond it was made and 72 random bits, ``events.types.new_event_id``). The index of
events to fan out held every event, each moved from "not yet" to "done" when fanned out;
now it holds those not yet fanned out, so fanning one out only takes it out.

SQLite keeps the public id's uniqueness in the table's definition: the table is made again
(with foreign keys off, ``env.py``, so that its deliveries stay).

Revision ID: 0031
Revises: 0030
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
"""Names SQLite's unnamed constraint, so that it can be dropped."""
NOT_FANNED_OUT = {"sqlite": "fanned_out = 0", "postgresql": "NOT fanned_out"}
"""As SQLAlchemy writes ``not_(fanned_out)`` on each database, so that the planner matches it."""


def upgrade() -> None:
    op.drop_index("ix_events_fan_out", "events")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("events_public_id_key", "events", type_="unique")
    else:
        with op.batch_alter_table("events", recreate="always", naming_convention=NAMES) as batch:
            batch.drop_constraint("uq_events_public_id", type_="unique")
    where = NOT_FANNED_OUT[op.get_bind().dialect.name]
    op.execute(f"CREATE INDEX ix_events_to_fan_out ON events (id) WHERE {where}")


def downgrade() -> None:
    op.drop_index("ix_events_to_fan_out", "events")
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint("events_public_id_key", "events", ["public_id"])
    else:
        with op.batch_alter_table("events", recreate="always") as batch:
            batch.create_unique_constraint("uq_events_public_id", ["public_id"])
    op.create_index("ix_events_fan_out", "events", ["fanned_out", "id"])
