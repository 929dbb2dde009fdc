"""subscription_period: one row per paid period (activation, renewal), the history
behind the monthly report's MRR movements; filled from the periods paid so far

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from resellctl.store.types import UTCDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'subscription_period',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.String(length=32), nullable=False),
        sa.Column('reseller_id', sa.Integer(), nullable=True),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=False),
        sa.Column('period_cents', sa.Integer(), nullable=False),
        sa.Column('months', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id']),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('subscription_period', schema=None) as batch_op:
        batch_op.create_index('ix_period_reseller_dates', ['reseller_id', 'start_date',
                                                           'end_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_period_subscription_id'),
                              ['subscription_id'], unique=False)
    # what is known of the paid periods so far: the current one of every started
    # subscription (earlier periods of a store upgraded from 0003 are not recorded)
    op.execute(
        "INSERT INTO subscription_period (subscription_id, reseller_id, start_date, end_date,"
        " period_cents, months, created_at) SELECT id, reseller_id, start_date,"
        " current_period_end, quantity * unit_cents, CASE \"interval\" WHEN 'monthly' THEN 1"
        " WHEN 'quarterly' THEN 3 WHEN 'biannual' THEN 6 ELSE 12 END, updated_at"
        " FROM subscription WHERE start_date IS NOT NULL AND current_period_end IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('subscription_period', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_period_subscription_id'))
        batch_op.drop_index('ix_period_reseller_dates')
    op.drop_table('subscription_period')
