"""Short links, click counts, templates, number-cleaning events, 絶対リーチ! settings (issue 6)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:26:58.537850
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_clicks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("clicked_at", sa.BigInteger(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_clicks_account_id_clicked_at"),
            ["account_id", "clicked_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_link_clicks_link_id_id"), ["link_id", "id"], unique=False
        )

    op.create_table(
        "number_events",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("event_date", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("imported_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number", "event", "event_date", name=op.f("pk_number_events")),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("long_url", sa.String(length=2048), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("access_code_hash", sa.String(length=64), nullable=True),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("placeholder", sa.String(length=32), nullable=True),
        sa.Column("clicks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("code_failures", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=True),
        sa.Column("first_clicked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_clicked_at", sa.BigInteger(), nullable=True),
        sa.Column("disabled_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_links_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint("code", name=op.f("uq_links_code")),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_links_account_id_created_at"), ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_links_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_links_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "templates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_templates_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("account_id", "title", name=op.f("uq_templates_account_id_title")),
    )
    op.create_table(
        "zettai_settings",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("dlr_url", sa.String(length=2048), nullable=True),
        sa.Column("dlr_format", sa.String(length=8), server_default="json", nullable=False),
        sa.Column("short_domain", sa.String(length=255), nullable=True),
        sa.Column("agency_viewer_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_zettai_settings_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_zettai_settings")),
    )
    with op.batch_alter_table("zettai_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_zettai_settings_agency_viewer_id"), ["agency_viewer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("zettai_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zettai_settings_agency_viewer_id"))

    op.drop_table("zettai_settings")
    op.drop_table("templates")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_links_parent_id"))
        batch_op.drop_index(batch_op.f("ix_links_message_id"))
        batch_op.drop_index(batch_op.f("ix_links_account_id_created_at"))

    op.drop_table("links")
    op.drop_table("number_events")
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_clicks_link_id_id"))
        batch_op.drop_index(batch_op.f("ix_link_clicks_account_id_clicked_at"))

    op.drop_table("link_clicks")
