"""initial schema: every table of the spec, plus append-only guards on the ledger and audit

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

from resellctl.store.types import UTCDateTime


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor_email', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=True),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_at', ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index('ix_audit_reseller', ['reseller_id', 'at'], unique=False)

    op.create_table('idempotency_key',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('license_tier',
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('unit_cents', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('min_quantity')
    )
    op.create_table('plan',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('custom', sa.Boolean(), nullable=False),
    sa.Column('prices', sa.JSON(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=2000), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('is_super_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('reseller',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('partner_supported', sa.Boolean(), nullable=False),
    sa.Column('license_count', sa.Integer(), nullable=False),
    sa.Column('license_used', sa.Integer(), nullable=False),
    sa.Column('balance_cents', sa.Integer(), nullable=False),
    sa.Column('branding', sa.JSON(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('balance_cents >= 0', name='ck_reseller_balance'),
    sa.CheckConstraint('license_count >= 0', name='ck_reseller_license_count'),
    sa.CheckConstraint('license_used >= 0 AND license_used <= license_count', name='ck_reseller_license_used'),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('domain'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('client_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('actor_email', sa.String(length=320), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('ledger_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('balance_after_cents', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=500), nullable=True),
    sa.Column('subscription_id', sa.String(length=32), nullable=True),
    sa.Column('actor_email', sa.String(length=320), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('balance_after_cents >= 0', name='ck_ledger_balance_after'),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_reseller_id', ['reseller_id', 'id'], unique=False)

    op.create_table('membership',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("role IN ('admin','support','viewer')", name='ck_role'),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('user_id', 'reseller_id')
    )
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_membership_reseller_id'), ['reseller_id'], unique=False)

    op.create_table('usage_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('total_clients', sa.Integer(), nullable=False),
    sa.Column('active_clients', sa.Integer(), nullable=False),
    sa.Column('trial_clients', sa.Integer(), nullable=False),
    sa.Column('seats_allocated', sa.Integer(), nullable=False),
    sa.Column('seats_used', sa.Integer(), nullable=False),
    sa.Column('license_count', sa.Integer(), nullable=False),
    sa.Column('license_used', sa.Integer(), nullable=False),
    sa.Column('active_subscriptions', sa.Integer(), nullable=False),
    sa.Column('mrr_cents', sa.Integer(), nullable=False),
    sa.Column('balance_cents', sa.Integer(), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reseller_id', 'day', name='uq_snapshot_day')
    )
    op.create_table('client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=32), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=True),
    sa.Column('owner_name', sa.String(length=200), nullable=False),
    sa.Column('owner_email', sa.String(length=320), nullable=False),
    sa.Column('owner_phone', sa.String(length=64), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('plan', sa.String(length=64), nullable=True),
    sa.Column('seats_allocated', sa.Integer(), nullable=False),
    sa.Column('seats_used', sa.Integer(), nullable=False),
    sa.Column('support_type', sa.String(length=16), nullable=False),
    sa.Column('support_access', sa.Boolean(), nullable=False),
    sa.Column('trial_ends_at', UTCDateTime(), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('deleted_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('active','deactivated')", name='ck_client_status'),
    sa.CheckConstraint('seats_allocated >= 0 AND seats_used >= 0', name='ck_client_seats'),
    sa.ForeignKeyConstraint(['import_id'], ['client_import.id'], ),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reseller_id', 'external_id', name='uq_client_external_id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.create_index('ix_client_reseller_status', ['reseller_id', 'status', 'deleted_at'], unique=False)

    op.create_table('license_purchase',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_cents', sa.Integer(), nullable=False),
    sa.Column('total_cents', sa.Integer(), nullable=False),
    sa.Column('ledger_entry_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entry.id'], ),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('license_purchase', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_license_purchase_reseller_id'), ['reseller_id'], unique=False)

    op.create_table('approval',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('decided_at', UTCDateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_reseller_id'), ['reseller_id'], unique=False)

    op.create_table('subscription',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=True),
    sa.Column('plan_code', sa.String(length=64), nullable=False),
    sa.Column('plan_name', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('interval', sa.String(length=16), nullable=False),
    sa.Column('unit_cents', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('auto_renew', sa.Boolean(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('current_period_end', sa.Date(), nullable=True),
    sa.Column('next_quantity', sa.Integer(), nullable=True),
    sa.Column('next_interval', sa.String(length=16), nullable=True),
    sa.Column('activated_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_subscription_quantity'),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_reseller_id'), ['reseller_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_status'), ['status'], unique=False)

    op.create_table('support_session',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('reseller_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('opened_by', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('redeemed_at', UTCDateTime(), nullable=True),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['reseller_id'], ['reseller.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('support_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_session_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_session_reseller_id'), ['reseller_id'], unique=False)

    append_only("ledger_entry")
    append_only("audit_event")


APPEND_ONLY_SQLITE = """
CREATE TRIGGER {table}_append_only_{op} BEFORE {OP} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END
"""
APPEND_ONLY_PG = """
CREATE OR REPLACE FUNCTION resellctl_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql;
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION resellctl_append_only();
"""


def append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on a table at the database level."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(table=table, op=verb, OP=verb.upper()))
    else:
        op.execute(APPEND_ONLY_PG.format(table=table))


def downgrade() -> None:
    with op.batch_alter_table('support_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_session_reseller_id'))
        batch_op.drop_index(batch_op.f('ix_support_session_client_id'))

    op.drop_table('support_session')
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_status'))
        batch_op.drop_index(batch_op.f('ix_subscription_reseller_id'))
        batch_op.drop_index(batch_op.f('ix_subscription_client_id'))

    op.drop_table('subscription')
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_reseller_id'))
        batch_op.drop_index(batch_op.f('ix_approval_client_id'))

    op.drop_table('approval')
    with op.batch_alter_table('license_purchase', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_license_purchase_reseller_id'))

    op.drop_table('license_purchase')
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_index('ix_client_reseller_status')

    op.drop_table('client')
    op.drop_table('usage_snapshot')
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_membership_reseller_id'))

    op.drop_table('membership')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_reseller_id')

    op.drop_table('ledger_entry')
    op.drop_table('client_import')
    op.drop_table('reseller')
    op.drop_table('user_account')
    op.drop_table('setting')
    op.drop_table('plan')
    op.drop_table('license_tier')
    op.drop_table('idempotency_key')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_reseller')
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))
        batch_op.drop_index('ix_audit_at')

    op.drop_table('audit_event')
