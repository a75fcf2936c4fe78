"""Indexes for the quality reports: steps completed in a period, claims in a period.

Both cover what the reports read, so the database answers from the index alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_step_records_step_recorded",
        "step_records",
        ["step", "recorded_at", "case_id", "id"],
        unique=False,
    )
    op.create_index("ix_cases_claimed", "cases", ["claimed_at", "opened_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_claimed", table_name="cases")
    op.drop_index("ix_step_records_step_recorded", table_name="step_records")
