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

# --- MediaSMS façade and CSV batches (issue 7) -----------------------------------------------

# One MediaSMS login and the façade's settings per account. The password is stored as a scrypt
# hash; the result push credentials (sent *to* the customer's server) are operator
# configuration needed in clear, like a connector's bind password. Never logged.
mediasms_accounts = sa.Table(
    "mediasms_accounts",
    metadata,
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("username", sa.String(20), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("long_message", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("numeric_status", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("keep_params", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("result_url", sa.String(2048), nullable=True),
    sa.Column("result_username", sa.String(100), nullable=True),
    sa.Column("result_password", sa.String(100), nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
)

# A bulk upload (MediaSMS CSV 投入方式): its rows are messages carrying ``messages.batch_id``.
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("source", sa.String(16), nullable=False),  # mediasms_csv
    sa.Column("state", sa.String(16), nullable=False),  # loading | ready | failed | abandoned
    sa.Column("filename", sa.String(255), nullable=True),
    sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("accepted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rejected", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Column("ready_at", Ms, nullable=True),
    sa.Index(None, "account_id", "created_at"),
)

# Added to ``messages`` by migration 0006: the batch a message came in (NULL: sent alone), and a
# small JSON object of façade data (MediaSMS: result push flag, smstitle, original parameters).
messages.append_column(sa.Column("batch_id", sa.String(32), nullable=True))
messages.append_column(sa.Column("facade_data", sa.Text, nullable=True))
sa.Index("ix_messages_batch_id", messages.c.batch_id)


# --- short links, templates, number cleaning, 絶対リーチ! settings (issue 6) ---------------

# A tracked short link. ``message_id`` is set when the link was inserted into one message (a
# per-message link, so that clicks tell which message was opened); ``parent_id`` then names
# the account's link it was made from, if any. Codes are unique on the platform.
links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("code", sa.String(16), nullable=False, unique=True),
    sa.Column("domain", sa.String(255), nullable=True),  # NULL: the platform's short base URL
    # 2083: MediaSMS originalurl* (per-message links); links made by API calls stay <= 2048.
    sa.Column("long_url", sa.String(2083), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    # SHA-256 of link id + access code (MediaSMS originalurlcode); NULL: no code asked.
    sa.Column("access_code_hash", sa.String(64), nullable=True),
    sa.Column("parent_id", sa.String(32), nullable=True),
    sa.Column("message_id", sa.String(32), nullable=True),
    sa.Column("placeholder", sa.String(32), nullable=True),  # e.g. URL2, for per-message links
    sa.Column("clicks", sa.Integer, nullable=False, server_default="0"),
    # Wrong access codes in a row; at the limit the link refuses codes until locked_until.
    sa.Column("code_failures", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("locked_until", Ms, nullable=True),
    sa.Column("first_clicked_at", Ms, nullable=True),
    sa.Column("last_clicked_at", Ms, nullable=True),
    sa.Column("disabled_at", Ms, nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Index(None, "account_id", "created_at"),
    sa.Index(None, "message_id"),
    sa.Index(None, "parent_id"),
)

link_clicks = sa.Table(
    "link_clicks",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("link_id", sa.String(32), nullable=False),
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.String(32), nullable=True),
    sa.Column("clicked_at", Ms, nullable=False),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("user_agent", sa.String(256), nullable=True),
    sa.Index(None, "link_id", "id"),
    sa.Index(None, "account_id", "clicked_at"),
)

# 定型文: a text with {{name}} parameters, per account.
templates = sa.Table(
    "templates",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.UniqueConstraint("account_id", "title"),
)

# Imported subscriber events of numbers (名義人変更判定): platform reference data, like the
# ported-number table. ``event`` is contracted (a subscriber's contract began: new or
# reassigned number) or deactivated (解約); ``event_date`` is the JST day as YYYYMMDD.
number_events = sa.Table(
    "number_events",
    metadata,
    sa.Column("number", sa.String(20), primary_key=True),  # E.164
    sa.Column("event", sa.String(16), primary_key=True),
    sa.Column("event_date", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(200), nullable=True),
    sa.Column("imported_at", Ms, nullable=False),
)

# Per-account settings of the 絶対リーチ! façade (a side table: ``accounts`` stays neutral).
zettai_settings = sa.Table(
    "zettai_settings",
    metadata,
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("dlr_url", sa.String(2048), nullable=True),
    sa.Column("dlr_format", sa.String(8), nullable=False, server_default="json"),
    sa.Column("short_domain", sa.String(255), nullable=True),
    # The agency viewer (an account with role agency_viewer) who may read this account's
    # figures with clientId=all.
    sa.Column("agency_viewer_id", sa.BigInteger, nullable=True),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Index(None, "agency_viewer_id"),
)

# --- outcomes: webhooks, inbound, usage -------------------------------------------------------

# Usage by sent day (``GET /v1/usage``) and replies to a number (inbound linking, ``?to=``).
sa.Index("ix_messages_account_id_sent_at", messages.c.account_id, messages.c.sent_at)
sa.Index("ix_messages_to_number_created_at", messages.c.to_number, messages.c.created_at)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", sa.String(200), nullable=False),  # comma-separated event types
    sa.Column("format", sa.String(40), nullable=False, server_default="standard"),
    # The signing secret (whsec_…) and the Basic auth password are needed in clear to sign and
    # to authenticate each request, like a connector's bind password. Never logged.
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("basic_user", sa.String(100), nullable=True),
    sa.Column("basic_password", sa.String(200), nullable=True),
    sa.Column("max_attempts", sa.Integer, nullable=True),  # NULL: the format's policy
    sa.Column("max_age_seconds", sa.Integer, nullable=True),
    sa.Column("timeout_ms", sa.Integer, nullable=True),
    sa.Column("options", sa.Text, nullable=True),  # JSON, for a format's own settings
    sa.Column("description", sa.String(200), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("failing_since", Ms, nullable=True),  # first failure since the last success
    sa.Column("flagged_at", Ms, nullable=True),  # an event was dead-lettered
    sa.Column("last_success_at", Ms, nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Index(None, "account_id"),
)

# The outbox: one row per event, written in the transaction of what it reports.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the webhook-id header
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("message_id", sa.String(32), nullable=True),
    sa.Column("data", sa.Text, nullable=False),  # JSON object
    sa.Column("created_at", Ms, nullable=False),
    sa.Index(None, "created_at"),
)

# One row per (event, endpoint); ``chain`` orders the events of one message per endpoint.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column(
        "endpoint_id",
        sa.String(32),
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("url", sa.String(2048), nullable=True),  # a message's webhookUrl override
    sa.Column("chain", sa.String(64), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),  # queued|pending|delivered|dead|skipped
    sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("next_at", Ms, nullable=True),  # due time while pending; NULL otherwise
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", Ms, nullable=True),
    sa.Column("last_status", sa.SmallInteger, nullable=True),
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.Column("created_at", Ms, nullable=False),
    sa.Column("updated_at", Ms, nullable=False),
    sa.Column("done_at", Ms, nullable=True),
    sa.Index(None, "next_at"),
    sa.Index(None, "endpoint_id", "chain"),
    sa.Index(None, "endpoint_id", "state"),
)

# One row per HTTP request made for a delivery.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("delivery_id", sa.BigInteger, nullable=False),
    sa.Column("endpoint_id", sa.String(32), nullable=False),
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("number", sa.SmallInteger, nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=True),
    sa.Column("error", sa.String(200), nullable=True),
    sa.Column("response", sa.String(500), nullable=True),  # the start of the answer body
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("at", Ms, nullable=False),
    sa.Index(None, "delivery_id"),
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

# --- template numbers (MediaSMS smstextid), migration 0008 -----------------------------------

# A template's number: per account, what MediaSMS ``smstextid`` names (0-999999). Assigned
# from ``template_counters`` (never reused after a delete) or given when the template is made.
templates.append_column(sa.Column("number", sa.Integer, nullable=False))
templates.append_constraint(sa.UniqueConstraint(templates.c.account_id, templates.c.number))

# The highest template number an account has ever had: the next one is this + 1.
template_counters = sa.Table(
    "template_counters",
    metadata,
    sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("last_number", sa.Integer, nullable=False),
)
