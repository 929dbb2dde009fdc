"""drop ix_client_reseller_status: the unique (reseller_id, external_id) index already
serves every lookup by reseller, and one index fewer makes bulk imports faster

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_index('ix_client_reseller_status')


def downgrade() -> None:
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.create_index('ix_client_reseller_status', ['reseller_id', 'status', 'deleted_at'],
                              unique=False)
