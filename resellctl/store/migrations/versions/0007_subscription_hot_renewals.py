"""subscriptions: renewals as in-place (HOT) updates on PostgreSQL. No index holds
current_period_end (the sweep filters the active subscriptions by date), and
subscription pages are filled to half on PostgreSQL, so that a renewal rewrites its row
in the same page without touching any index (docs/performance.md, Subscriptions)

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

FILLFACTOR = 50  # per cent of each page filled by inserts: the rest is for renewals


def upgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_status_period_end')
    if op.get_bind().dialect.name == 'postgresql':  # new pages; old ones as rows move
        op.execute(f'ALTER TABLE subscription SET (fillfactor = {FILLFACTOR})')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE subscription RESET (fillfactor)')
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_status_period_end',
                              ['status', 'current_period_end'], unique=False)
