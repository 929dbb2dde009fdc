"""subscriptions: the price of a change that waits for the renewal (next_unit_cents),
and an index on (status, current_period_end) for the sweep and --renewing-within

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_unit_cents', sa.Integer(), nullable=True))
        batch_op.create_index('ix_subscription_status_period_end',
                              ['status', 'current_period_end'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_status_period_end')
        batch_op.drop_column('next_unit_cents')
