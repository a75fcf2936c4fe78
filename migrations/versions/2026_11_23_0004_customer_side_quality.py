"""Customer side, time limits, settings and audits: links, progress updates, interim measures,
remedy approvals, settings, forbidden phrases, audits, and the case columns they need.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forbidden_phrases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phrase", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_forbidden_phrases_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forbidden_phrases")),
        sa.UniqueConstraint("phrase", name=op.f("uq_forbidden_phrases_phrase")),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_settings_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("auditor_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("reopen_to", sa.String(length=20), nullable=True),
        sa.Column("case_closed_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("verdict IN ('compliant', 'findings')", name=op.f("ck_audits_verdict_known")),
        sa.ForeignKeyConstraint(["auditor_id"], ["users.id"], name=op.f("fk_audits_auditor_id_users")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_audits_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audits")),
    )
    op.create_index("ix_audits_case", "audits", ["case_id", "id"], unique=False)
    op.create_table(
        "customer_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_customer_links_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_customer_links_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_customer_links_token_hash")),
    )
    op.create_index("ix_customer_links_case", "customer_links", ["case_id", "id"], unique=False)
    op.create_table(
        "interim_measures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("made_permanent_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_interim_measures_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_interim_measures_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interim_measures")),
    )
    op.create_index("ix_interim_measures_case", "interim_measures", ["case_id", "id"], unique=False)
    op.create_table(
        "progress_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_progress_updates_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_progress_updates_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_updates")),
    )
    op.create_index("ix_progress_updates_case", "progress_updates", ["case_id", "id"], unique=False)
    op.create_table(
        "remedy_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("remedy", sa.String(length=40), nullable=False),
        sa.Column("remedy_detail", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("proposal", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_remedy_approvals_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_remedy_approvals_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_remedy_approvals_requested_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remedy_approvals")),
    )
    op.create_index("ix_remedy_approvals_case", "remedy_approvals", ["case_id", "id"], unique=False)
    op.add_column("cases", sa.Column("pending_step", sa.String(length=20), nullable=True))
    op.add_column("cases", sa.Column("pending_evidence", sa.JSON(), nullable=True))
    op.add_column("cases", sa.Column("clock_paused_at", sa.DateTime(), nullable=True))
    op.add_column("cases", sa.Column("breach_recorded_at", sa.DateTime(), nullable=True))
    op.add_column("cases", sa.Column("last_update_at", sa.DateTime(), nullable=True))
    op.add_column("cases", sa.Column("root_cause_category", sa.String(length=40), nullable=True))
    op.add_column("cases", sa.Column("satisfaction", sa.String(length=20), nullable=True))
    op.add_column("cases", sa.Column("satisfaction_score", sa.Integer(), nullable=True))
    op.add_column("cases", sa.Column("must_audit", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("cases", sa.Column("audited_closed_at", sa.DateTime(), nullable=True))
    op.create_index("ix_cases_due", "cases", ["due_at"], unique=False)
    op.create_index("ix_cases_opened_at", "cases", ["opened_at", "id"], unique=False)
    op.create_index("ix_cases_state_closed", "cases", ["state", "closed_at"], unique=False)
    op.add_column("customers", sa.Column("erased_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "erased_at")
    op.drop_index("ix_cases_state_closed", table_name="cases")
    op.drop_index("ix_cases_opened_at", table_name="cases")
    op.drop_index("ix_cases_due", table_name="cases")
    op.drop_column("cases", "audited_closed_at")
    op.drop_column("cases", "must_audit")
    op.drop_column("cases", "satisfaction_score")
    op.drop_column("cases", "satisfaction")
    op.drop_column("cases", "root_cause_category")
    op.drop_column("cases", "last_update_at")
    op.drop_column("cases", "breach_recorded_at")
    op.drop_column("cases", "clock_paused_at")
    op.drop_column("cases", "pending_evidence")
    op.drop_column("cases", "pending_step")
    op.drop_index("ix_remedy_approvals_case", table_name="remedy_approvals")
    op.drop_table("remedy_approvals")
    op.drop_index("ix_progress_updates_case", table_name="progress_updates")
    op.drop_table("progress_updates")
    op.drop_index("ix_interim_measures_case", table_name="interim_measures")
    op.drop_table("interim_measures")
    op.drop_index("ix_customer_links_case", table_name="customer_links")
    op.drop_table("customer_links")
    op.drop_index("ix_audits_case", table_name="audits")
    op.drop_table("audits")
    op.drop_table("settings")
    op.drop_table("forbidden_phrases")
