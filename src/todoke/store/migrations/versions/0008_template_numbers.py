"""Template numbers (MediaSMS smstextid) and their per-account counter; links.long_url 2083

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_counters",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_template_counters_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_template_counters")),
    )
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
    # Existing templates are numbered 1, 2, 3, ... per account in the order they were made
    # (ids are time-ordered).
    op.execute(
        "UPDATE templates SET number = (SELECT COUNT(*) FROM templates AS t2"
        " WHERE t2.account_id = templates.account_id AND t2.id <= templates.id)"
    )
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_templates_account_id_number"), ["account_id", "number"]
        )
    op.execute(
        "INSERT INTO template_counters (account_id, last_number)"
        " SELECT account_id, MAX(number) FROM templates GROUP BY account_id"
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.alter_column(
            "long_url",
            existing_type=sa.String(length=2048),
            type_=sa.String(length=2083),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.alter_column(
            "long_url",
            existing_type=sa.String(length=2083),
            type_=sa.String(length=2048),
            existing_nullable=False,
        )
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_templates_account_id_number"), type_="unique")
        batch_op.drop_column("number")
    op.drop_table("template_counters")
