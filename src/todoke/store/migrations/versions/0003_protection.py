"""protection: account limits, IP rules, blocked IPs, blocklists, quotas, rate limits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:31:31.397768
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_usage",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=12), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "period", name=op.f("pk_account_usage")),
    )
    op.create_table(
        "blocklist",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "number", name=op.f("pk_blocklist")),
    )
    with op.batch_alter_table("blocklist", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blocklist_number"), ["number"], unique=False)

    op.create_table(
        "ip_blocks",
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failure_at", sa.BigInteger(), nullable=True),
        sa.Column("blocked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("ip", name=op.f("pk_ip_blocks")),
    )
    with op.batch_alter_table("ip_blocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ip_blocks_blocked_at"), ["blocked_at"], unique=False)

    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limits")),
    )
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limits_tat"), ["tat"], unique=False)

    op.create_table(
        "account_ip_rules",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_ip_rules_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "network", name=op.f("pk_account_ip_rules")),
    )
    op.create_table(
        "account_limits",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("daily_quota", sa.Integer(), nullable=True),
        sa.Column("monthly_quota", sa.Integer(), nullable=True),
        sa.Column("flood_max_messages", sa.Integer(), nullable=True),
        sa.Column("flood_max_identical", sa.Integer(), nullable=True),
        sa.Column("duplicate_window_seconds", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_limits_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_limits")),
    )
    # Partial: only messages that were not rejected (the flooding filter's scan).
    op.create_index(
        "ix_messages_account_id_to_number_created_at",
        "messages",
        ["account_id", "to_number", "created_at"],
        unique=False,
        sqlite_where=sa.text("status_group <> 5"),
        postgresql_where=sa.text("status_group <> 5"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_account_id_to_number_created_at", table_name="messages")

    op.drop_table("account_limits")
    op.drop_table("account_ip_rules")
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limits_tat"))

    op.drop_table("rate_limits")
    with op.batch_alter_table("ip_blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ip_blocks_blocked_at"))

    op.drop_table("ip_blocks")
    with op.batch_alter_table("blocklist", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blocklist_number"))

    op.drop_table("blocklist")
    op.drop_table("account_usage")
