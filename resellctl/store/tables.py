"""GENERATED from resellctl/store/models.py by `python -m resellctl.store.codegen`.

Do not edit: change models.py and regenerate. Commands import these Core tables
instead of the SQLModel classes, so that no command pays for ORM mapping.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from resellctl.store.types import UTCDateTime

metadata = MetaData()

audit_event = Table(
    'audit_event',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('at', UTCDateTime(), nullable=False),
    Column('actor_email', String(320), nullable=False),
    Column('action', String(64), nullable=False, index=True),
    Column('reseller_id', Integer(), nullable=True),
    Column('entity_type', String(32), nullable=False),
    Column('entity_id', String(64), nullable=False),
    Column('changes', JSON(), nullable=False),
    Index('ix_audit_at', 'at', unique=False),
    Index('ix_audit_reseller', 'reseller_id', 'at', unique=False),
)

idempotency_key = Table(
    'idempotency_key',
    metadata,
    Column('key', String(200), primary_key=True, nullable=False),
    Column('request_hash', String(64), nullable=False),
    Column('response', JSON(), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
)

license_tier = Table(
    'license_tier',
    metadata,
    Column('min_quantity', Integer(), primary_key=True, nullable=False),
    Column('unit_cents', Integer(), nullable=False),
)

plan = Table(
    'plan',
    metadata,
    Column('code', String(64), primary_key=True, nullable=False),
    Column('name', String(200), nullable=False),
    Column('custom', Boolean(), nullable=False, default=False),
    Column('prices', JSON(), nullable=False),
    Column('updated_at', UTCDateTime(), nullable=False),
)

setting = Table(
    'setting',
    metadata,
    Column('key', String(64), primary_key=True, nullable=False),
    Column('value', String(2000), nullable=False),
    Column('updated_at', UTCDateTime(), nullable=False),
)

user_account = Table(
    'user_account',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('email', String(320), nullable=False, unique=True),
    Column('name', String(200), nullable=True),
    Column('is_super_admin', Boolean(), nullable=False, default=False),
    Column('created_at', UTCDateTime(), nullable=False),
)

api_token = Table(
    'api_token',
    metadata,
    Column('id', String(32), primary_key=True, nullable=False),
    Column('user_id', Integer(), ForeignKey('user_account.id'), nullable=False, index=True),
    Column('name', String(200), nullable=True),
    Column('token_hash', String(64), nullable=False, unique=True),
    Column('created_by', String(320), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('expires_at', UTCDateTime(), nullable=True),
    Column('last_used_at', UTCDateTime(), nullable=True),
    Column('revoked_at', UTCDateTime(), nullable=True),
)

reseller = Table(
    'reseller',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('slug', String(63), nullable=False, unique=True),
    Column('name', String(200), nullable=False),
    Column('owner_id', Integer(), ForeignKey('user_account.id'), nullable=False),
    Column('is_active', Boolean(), nullable=False, default=True),
    Column('partner_supported', Boolean(), nullable=False, default=False),
    Column('license_count', Integer(), nullable=False, default=0),
    Column('license_used', Integer(), nullable=False, default=0),
    Column('balance_cents', Integer(), nullable=False, default=0),
    Column('branding', JSON(), nullable=False),
    Column('domain', String(253), nullable=True, unique=True),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('updated_at', UTCDateTime(), nullable=False),
    CheckConstraint('license_count >= 0', name='ck_reseller_license_count'),
    CheckConstraint('license_used >= 0 AND license_used <= license_count', name='ck_reseller_license_used'),
    CheckConstraint('balance_cents >= 0', name='ck_reseller_balance'),
)

client_import = Table(
    'client_import',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=True),
    Column('source', String(500), nullable=False),
    Column('created', Integer(), nullable=False, default=0),
    Column('updated', Integer(), nullable=False, default=0),
    Column('skipped', Integer(), nullable=False, default=0),
    Column('failed', Integer(), nullable=False, default=0),
    Column('actor_email', String(320), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
)

ledger_entry = Table(
    'ledger_entry',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=False),
    Column('kind', String(24), nullable=False),
    Column('amount_cents', Integer(), nullable=False),
    Column('balance_after_cents', Integer(), nullable=False),
    Column('reference', String(500), nullable=True),
    Column('subscription_id', String(32), nullable=True),
    Column('actor_email', String(320), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    CheckConstraint('balance_after_cents >= 0', name='ck_ledger_balance_after'),
    Index('ix_ledger_created_at', 'created_at', unique=False),
    Index('ix_ledger_reseller_id', 'reseller_id', 'id', unique=False),
)

membership = Table(
    'membership',
    metadata,
    Column('user_id', Integer(), ForeignKey('user_account.id'), primary_key=True, nullable=False),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), primary_key=True, nullable=False, index=True),
    Column('role', String(16), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    CheckConstraint("role IN ('admin','support','viewer')", name='ck_role'),
)

usage_snapshot = Table(
    'usage_snapshot',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=False),
    Column('day', Date(), nullable=False),
    Column('total_clients', Integer(), nullable=False, default=0),
    Column('active_clients', Integer(), nullable=False, default=0),
    Column('trial_clients', Integer(), nullable=False, default=0),
    Column('seats_allocated', Integer(), nullable=False, default=0),
    Column('seats_used', Integer(), nullable=False, default=0),
    Column('license_count', Integer(), nullable=False, default=0),
    Column('license_used', Integer(), nullable=False, default=0),
    Column('active_subscriptions', Integer(), nullable=False, default=0),
    Column('mrr_cents', Integer(), nullable=False, default=0),
    Column('balance_cents', Integer(), nullable=False, default=0),
    Column('recorded_at', UTCDateTime(), nullable=False),
    UniqueConstraint('reseller_id', 'day', name='uq_snapshot_day'),
    Index('ix_snapshot_day', 'day', 'reseller_id', 'seats_used', 'active_clients', 'mrr_cents', unique=False),
)

client = Table(
    'client',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('uid', String(32), nullable=False, unique=True),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=True),
    Column('name', String(200), nullable=False),
    Column('location', String(200), nullable=True),
    Column('owner_name', String(200), nullable=False),
    Column('owner_email', String(320), nullable=False),
    Column('owner_phone', String(64), nullable=True),
    Column('stage', String(16), nullable=False),
    Column('status', String(16), nullable=False, default='active'),
    Column('plan', String(64), nullable=True),
    Column('seats_allocated', Integer(), nullable=False, default=0),
    Column('seats_used', Integer(), nullable=False, default=0),
    Column('support_type', String(16), nullable=False, default='vendor'),
    Column('support_access', Boolean(), nullable=False, default=False),
    Column('trial_ends_at', UTCDateTime(), nullable=True),
    Column('external_id', String(200), nullable=True),
    Column('import_id', Integer(), ForeignKey('client_import.id'), nullable=True),
    Column('deleted_at', UTCDateTime(), nullable=True),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('updated_at', UTCDateTime(), nullable=False),
    UniqueConstraint('reseller_id', 'external_id', name='uq_client_external_id'),
    CheckConstraint('seats_allocated >= 0 AND seats_used >= 0', name='ck_client_seats'),
    CheckConstraint("status IN ('active','deactivated')", name='ck_client_status'),
)

license_purchase = Table(
    'license_purchase',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=False, index=True),
    Column('quantity', Integer(), nullable=False),
    Column('unit_cents', Integer(), nullable=False),
    Column('total_cents', Integer(), nullable=False),
    Column('ledger_entry_id', Integer(), ForeignKey('ledger_entry.id'), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
)

approval = Table(
    'approval',
    metadata,
    Column('id', String(32), primary_key=True, nullable=False),
    Column('client_id', Integer(), ForeignKey('client.id'), nullable=False, index=True),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=False, index=True),
    Column('token_hash', String(64), nullable=False, unique=True),
    Column('status', String(16), nullable=False),
    Column('expires_at', UTCDateTime(), nullable=False),
    Column('created_by', String(320), nullable=False),
    Column('decided_at', UTCDateTime(), nullable=True),
    Column('decided_by', String(320), nullable=True),
    Column('created_at', UTCDateTime(), nullable=False),
)

subscription = Table(
    'subscription',
    metadata,
    Column('id', String(32), primary_key=True, nullable=False),
    Column('client_id', Integer(), ForeignKey('client.id'), nullable=False, index=True),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=True, index=True),
    Column('plan_code', String(64), nullable=False),
    Column('plan_name', String(200), nullable=False),
    Column('quantity', Integer(), nullable=False),
    Column('interval', String(16), nullable=False),
    Column('unit_cents', Integer(), nullable=False),
    Column('status', String(16), nullable=False, index=True),
    Column('auto_renew', Boolean(), nullable=False, default=True),
    Column('start_date', Date(), nullable=True),
    Column('current_period_end', Date(), nullable=True),
    Column('next_quantity', Integer(), nullable=True),
    Column('next_interval', String(16), nullable=True),
    Column('next_unit_cents', Integer(), nullable=True),
    Column('activated_at', UTCDateTime(), nullable=True),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('updated_at', UTCDateTime(), nullable=False),
    CheckConstraint('quantity > 0', name='ck_subscription_quantity'),
)

support_session = Table(
    'support_session',
    metadata,
    Column('id', String(32), primary_key=True, nullable=False),
    Column('client_id', Integer(), ForeignKey('client.id'), nullable=False, index=True),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=True, index=True),
    Column('token_hash', String(64), nullable=False, unique=True),
    Column('opened_by', String(320), nullable=False),
    Column('reason', String(500), nullable=False),
    Column('expires_at', UTCDateTime(), nullable=False),
    Column('redeemed_at', UTCDateTime(), nullable=True),
    Column('ended_at', UTCDateTime(), nullable=True),
    Column('created_at', UTCDateTime(), nullable=False),
)

subscription_period = Table(
    'subscription_period',
    metadata,
    Column('id', Integer(), primary_key=True, nullable=False),
    Column('subscription_id', String(32), ForeignKey('subscription.id'), nullable=False, index=True),
    Column('reseller_id', Integer(), ForeignKey('reseller.id'), nullable=True),
    Column('start_date', Date(), nullable=False),
    Column('end_date', Date(), nullable=False),
    Column('period_cents', Integer(), nullable=False),
    Column('months', Integer(), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Index('ix_period_reseller_dates', 'reseller_id', 'start_date', 'end_date', unique=False),
)
