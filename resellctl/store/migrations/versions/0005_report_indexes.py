"""report indexes: ledger entries by instant (the monthly export's charges and top-ups
of a month) and snapshots by day, covering the activity chart's metrics (a year of a
channel's snapshots summed per day without reading the table)

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('usage_snapshot', schema=None) as batch_op:
        batch_op.create_index('ix_snapshot_day', ['day', 'reseller_id', 'seats_used',
                                                  'active_clients', 'mrr_cents'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('usage_snapshot', schema=None) as batch_op:
        batch_op.drop_index('ix_snapshot_day')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_created_at')
