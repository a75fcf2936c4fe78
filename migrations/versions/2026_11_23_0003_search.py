"""Case search: case_search rows, a GIN index (PostgreSQL) or an FTS5 index (SQLite), backfilled.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

The normalising and gram rules below are a frozen copy of complaints.search as of this
revision (migrations never import the application); a test checks they still agree.
"""

import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    # External content: the index reads case_search.grams; the triggers keep it in step.
    "CREATE VIRTUAL TABLE case_search_fts USING fts5("
    "grams, content='case_search', content_rowid='case_id', tokenize='ascii', columnsize=0)",
    "CREATE TRIGGER case_search_ai AFTER INSERT ON case_search BEGIN "
    "INSERT INTO case_search_fts(rowid, grams) VALUES (new.case_id, new.grams); END",
    "CREATE TRIGGER case_search_ad AFTER DELETE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, grams) "
    "VALUES ('delete', old.case_id, old.grams); END",
    "CREATE TRIGGER case_search_au AFTER UPDATE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, grams) "
    "VALUES ('delete', old.case_id, old.grams); "
    "INSERT INTO case_search_fts(rowid, grams) VALUES (new.case_id, new.grams); END",
]


# --- frozen copy of complaints.search (revision 0003) ---------------------------------
def _normalise(text):
    if not text:
        return ""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    if not folded.isprintable():
        kept = "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
        folded = " ".join(kept.split())
    return folded


def _ascii_code(o):
    ch = chr(o)
    if ("a" <= ch <= "y") or ("0" <= ch <= "9"):
        return ch
    if ch == "z":
        return "zz"
    return f"z{o:02x}"


_ASCII_CODES = [_ascii_code(o) for o in range(128)]


def _sqlite_tokens(field):
    codes = [_ASCII_CODES[ord(ch)] if ord(ch) < 128 else ch for ch in field]
    tokens = [a + b for a, b in zip(codes, codes[1:], strict=False)]
    if codes:
        tokens.append(codes[-1] + "z8")
    return tokens


def _index_values(dialect, case_id, fields):
    doc = "\n".join(fields)
    if dialect == "postgresql":
        grams = set()
        for f in fields:
            p = [ord(ch) for ch in f]
            grams.update(p)
            grams.update((a << 21) | b for a, b in zip(p, p[1:], strict=False))
            grams.update((a << 42) | (b << 21) | c for a, b, c in zip(p, p[1:], p[2:], strict=False))
        return {"case_id": case_id, "doc": doc, "grams": sorted(grams)}
    return {"case_id": case_id, "doc": doc, "grams": " ".join(t for f in fields for t in _sqlite_tokens(f))}


def _backfill(conn, dialect):
    rows = sa.table(
        "case_search",
        sa.column("case_id", sa.Integer),
        sa.column("doc", sa.Text),
        sa.column("grams", postgresql.ARRAY(sa.BigInteger) if dialect == "postgresql" else sa.Text),
    )
    last = 0
    while True:
        batch = conn.execute(
            sa.text(
                "SELECT c.id, c.reference, u.name, u.email, u.phone_digits, c.summary, c.description, "
                "c.product, c.serial_number FROM cases c JOIN customers u ON u.id = c.customer_id "
                "WHERE c.id > :last ORDER BY c.id LIMIT 1000"
            ),
            {"last": last},
        ).all()
        if not batch:
            return
        values = []
        for case_id, *raw in batch:
            fields = [f for f in (_normalise(v) for v in raw) if f]
            values.append(_index_values(dialect, case_id, fields))
        conn.execute(rows.insert(), values)
        last = batch[-1][0]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    grams_type = postgresql.ARRAY(sa.BigInteger()) if dialect == "postgresql" else sa.Text()
    op.create_table(
        "case_search",
        sa.Column("case_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("grams", grams_type, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_search_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_search")),
    )
    if dialect == "postgresql":
        # grams out of line, uncompressed: the heap keeps only doc, which is what searches read.
        op.execute("ALTER TABLE case_search ALTER COLUMN grams SET STORAGE EXTERNAL")
        # fastupdate off: no pending list for every search to read through; an intake pays ~1 ms.
        op.create_index(
            "ix_case_search_grams",
            "case_search",
            ["grams"],
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        )
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)
    _backfill(op.get_bind(), dialect)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("case_search_ai", "case_search_ad", "case_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS case_search_fts")
    else:
        op.drop_index("ix_case_search_grams", table_name="case_search")
    op.drop_table("case_search")
