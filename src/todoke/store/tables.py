"""Table definitions (SQLAlchemy Core), the single source of the schema.

Alembic migrations in ``store/migrations`` must produce exactly this schema; a test compares them.
Timestamps are integer milliseconds since the Unix epoch (UTC): portable between SQLite and
PostgreSQL, cheap to index and compare, and free of time-zone ambiguity. The edges render them
in JST.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Ms = sa.BigInteger  # epoch milliseconds

accounts = sa.Table(
    "accounts",
    metadata,
    # The account id is the clientId of the 絶対リーチ! API: a positive integer.
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False, server_default="client"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Ms, nullable=False),
)

sender_codes = sa.Table(
    "sender_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # smsCode of the 絶対リーチ! API: 5 or 6 characters, unique on the platform.
    sa.Column("code", sa.String(20), nullable=False, unique=True),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Ms, nullable=False),
    sa.Index(None, "account_id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # SHA-256 of the token (hex). Tokens are 32 random characters (~190 bits), so a fast hash
    # is enough: there is nothing to brute-force, unlike a human password.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(8), nullable=False),  # first characters, for operators only
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("revoked_at", Ms, nullable=True),
    sa.Index(None, "account_id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("sender_code", sa.String(20), nullable=True),
    sa.Column("to_number", sa.String(20), nullable=False),  # E.164, +81…
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("encoding", sa.String(8), nullable=False),  # GSM7 | UCS2
    sa.Column("parts", sa.SmallInteger, nullable=False),
    sa.Column("characters", sa.Integer, nullable=False),
    sa.Column("carrier", sa.String(16), nullable=True),  # explicit or detected; NULL = unknown
    sa.Column("carrier_explicit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("client_tag", sa.String(200), nullable=True),
    sa.Column("group_tag", sa.String(200), nullable=True),
    sa.Column("webhook_url", sa.String(2048), nullable=True),
    sa.Column("schedule_at", Ms, nullable=True),
    sa.Column("validity_until", Ms, nullable=False),
    # Current status: the NTT CPaaS status name and its group id (seeds/004).
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("status_group", sa.SmallInteger, nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("cause", sa.String(40), nullable=True),
    sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("delivered_parts", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("billable_parts", sa.SmallInteger, nullable=False, server_default="0"),
    # Dispatch queue: due time while the message waits for a (re)try; NULL when not queued.
    sa.Column("due_at", Ms, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", Ms, nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Column("sent_at", Ms, nullable=True),
    sa.Column("done_at", Ms, nullable=True),
    sa.UniqueConstraint("account_id", "client_tag"),
    sa.Index(None, "account_id", "created_at"),
    sa.Index(None, "account_id", "group_tag"),
    sa.Index(None, "due_at"),
)

message_events = sa.Table(
    "message_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("message_id", sa.String(32), nullable=False),
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("status_group", sa.SmallInteger, nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("attempt", sa.SmallInteger, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),  # JSON object, small
    sa.Column("created_at", Ms, nullable=False),
    sa.Index(None, "message_id", "id"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=False),
    sa.Column("response", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("expires_at", Ms, nullable=False),
    sa.Index(None, "expires_at"),
)

# --- delivery engine -----------------------------------------------------------------------

connectors = sa.Table(
    "connectors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False, server_default="smpp"),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("system_id", sa.String(16), nullable=False),
    # The SMSC bind password: operator configuration, needed in clear to bind. Never logged.
    sa.Column("password", sa.String(64), nullable=False),
    sa.Column("system_type", sa.String(13), nullable=False, server_default=""),
    sa.Column("window", sa.Integer, nullable=False, server_default="10"),
    sa.Column("tps", sa.Float, nullable=True),
    sa.Column("options", sa.Text, nullable=True),  # JSON: gsm7_packed, concat_ref16, …
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
)

routes = sa.Table(
    "routes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.BigInteger, nullable=True),  # NULL: every account
    sa.Column("carrier", sa.String(16), nullable=False),  # a carrier or "all"
    sa.Column("position", sa.SmallInteger, nullable=False),  # 0 primary, 1.. failover
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    sa.Index(None, "account_id", "carrier", "position"),
)

ported_numbers = sa.Table(
    "ported_numbers",
    metadata,
    sa.Column("number", sa.String(20), primary_key=True),  # E.164
    sa.Column("carrier", sa.String(16), nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
)

maintenance_windows = sa.Table(
    "maintenance_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("carrier", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False, server_default="sms"),
    sa.Column("starts_at", Ms, nullable=False),
    sa.Column("ends_at", Ms, nullable=False),
    sa.Column("effect", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="planned"),
    sa.Column("fallback_connector", sa.String(64), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
)

# One row per attempt to hand a message to a carrier (persisted before the submit_sm).
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("message_id", sa.String(32), nullable=False),
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("number", sa.SmallInteger, nullable=False),  # 1, 2, … per message
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("carrier", sa.String(16), nullable=True),
    # sending | submitted | delivered | failed | unknown (the worker died mid-submit)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("cause", sa.String(40), nullable=True),
    sa.Column("parts", sa.SmallInteger, nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("submitted_at", Ms, nullable=True),
    sa.Column("done_at", Ms, nullable=True),
    sa.Index(None, "message_id"),
)

# One row per part the SMSC acknowledged: the correlation key for its receipt.
attempt_parts = sa.Table(
    "attempt_parts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("attempt_id", sa.String(32), nullable=False),
    sa.Column("message_id", sa.String(32), nullable=False),
    sa.Column("seq", sa.SmallInteger, nullable=False),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column(
        "smsc_id", sa.String(80), nullable=False
    ),  # normalised (receipt.normalize_message_id)
    sa.Column("smsc_id_raw", sa.String(80), nullable=False),  # as the SMSC gave it
    sa.Column("state", sa.String(16), nullable=False),  # submitted | delivered | failed
    sa.Column("stat", sa.String(16), nullable=True),
    sa.Column("err", sa.String(16), nullable=True),
    sa.Column("receipt_at", Ms, nullable=True),
    sa.Index(None, "connector", "smsc_id"),
    sa.Index(None, "attempt_id"),
)

# A receipt whose part is not stored yet (it overtook its submit_sm_resp); matched later.
orphan_receipts = sa.Table(
    "orphan_receipts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("smsc_id", sa.String(80), nullable=False),
    sa.Column("stat", sa.String(16), nullable=False),
    sa.Column("err", sa.String(16), nullable=True),
    sa.Column("received_at", Ms, nullable=False),
    sa.Index(None, "connector", "smsc_id"),
)

inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.BigInteger, nullable=True),  # NULL when no sent message matches
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("from_number", sa.String(20), nullable=False),
    sa.Column("to_code", sa.String(20), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reply_to", sa.String(32), nullable=True),  # the message it answers
    sa.Column("received_at", Ms, nullable=False),
    sa.Index(None, "account_id", "received_at"),
)

# --- protection (docs/protection.md) -------------------------------------------------------

# Per-account limits; a row exists only for an account whose limits differ from the platform
# defaults. NULL in a column means "the platform default" (see each comment for 0).
account_limits = sa.Table(
    "account_limits",
    metadata,
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("rate_limit", sa.Integer, nullable=True),  # messages/s on sends; 0 = unlimited
    sa.Column("daily_quota", sa.Integer, nullable=True),  # messages per JST day; 0 = none
    sa.Column("monthly_quota", sa.Integer, nullable=True),  # messages per JST month; 0 = none
    sa.Column("flood_max_messages", sa.Integer, nullable=True),  # per number per hour; 0 = off
    sa.Column("flood_max_identical", sa.Integer, nullable=True),  # per number per hour; 0 = off
    sa.Column("duplicate_window_seconds", sa.Integer, nullable=True),  # 0 = off
    sa.Column("updated_at", Ms, nullable=False),
)

# Per-account IP allowlist: addresses and CIDR ranges (IPv4 and IPv6). No rows: any address.
account_ip_rules = sa.Table(
    "account_ip_rules",
    metadata,
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("network", sa.String(64), primary_key=True),  # normalised, e.g. 192.0.2.0/24
    sa.Column("created_at", Ms, nullable=False),
)

# Authentication failures per client address; blocked_at set: refused until an operator lifts it.
ip_blocks = sa.Table(
    "ip_blocks",
    metadata,
    sa.Column("ip", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failure_at", Ms, nullable=True),
    sa.Column("blocked_at", Ms, nullable=True),
    sa.Index(None, "blocked_at"),
)

# Numbers that must not receive messages: account_id 0 is the platform-wide (DND) list.
blocklist = sa.Table(
    "blocklist",
    metadata,
    sa.Column("account_id", sa.BigInteger, primary_key=True),
    sa.Column("number", sa.String(20), primary_key=True),  # E.164
    sa.Column("reason", sa.String(16), nullable=False),  # manual | import | keyword | dnd
    sa.Column("note", sa.String(200), nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Index(None, "number"),
)

# Quota counters: messages accepted for sending per account and JST day ("d20261123") or
# month ("m202611"). Incremented in the accept transaction with a conditional UPDATE.
account_usage = sa.Table(
    "account_usage",
    metadata,
    sa.Column("account_id", sa.BigInteger, primary_key=True),
    sa.Column("period", sa.String(12), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

# Shared rate-limit state (GCRA "theoretical arrival time", epoch seconds) of every process.
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),  # "ip:192.0.2.1" | "send:10001"
    sa.Column("tat", sa.Float, nullable=False),
    sa.Index(None, "tat"),
)

# The flooding filter and duplicate detection read a number's recent messages that were not
# rejected; a partial index keeps the (possibly many) rejected ones out of that scan.
_NOT_REJECTED = sa.text("status_group <> 5")
sa.Index(
    "ix_messages_account_id_to_number_created_at",
    messages.c.account_id,
    messages.c.to_number,
    messages.c.created_at,
    sqlite_where=_NOT_REJECTED,
    postgresql_where=_NOT_REJECTED,
)
