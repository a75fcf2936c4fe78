"""Alembic: an empty database upgraded to head has exactly the models' schema, on both backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import BACKEND, _create_pg_database, _drop_pg_database
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from complaints import models  # noqa: F401 - every model registers its table
from complaints.db import Base, make_engine
from complaints.migrate import alembic_config, upgrade

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """A brand-new, empty database of the backend under test."""
    if BACKEND == "postgresql":
        url = _create_pg_database("complaints_migrate")
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
            _drop_pg_database(url)
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()


def _virtual_tables(conn) -> set[str]:
    """SQLite virtual tables (FTS5 indexes) and their shadow tables: outside the models by design."""
    if conn.dialect.name != "sqlite":
        return set()
    names = {
        r[0]
        for r in conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
        )
    }
    tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    return names | {t for t in tables for v in names if t.startswith(v + "_")}


def _diff(engine: Engine) -> list:
    with engine.connect() as conn:
        skip = _virtual_tables(conn)

        def include_name(name, type_, parent_names):
            return not (type_ == "table" and name in skip)

        def include_object(obj, name, type_, reflected, compare_to):
            # A model object declared for one dialect only (Index(...).ddl_if(dialect=...)).
            only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
            return reflected or only is None or only == conn.dialect.name

        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": include_name,
                "include_object": include_object,
            },
        )
        return compare_metadata(ctx, Base.metadata)


def _normal_sql(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().strip("()").strip()


def _model_checks() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for table in Base.metadata.sorted_tables:
        checks = {}
        for c in table.constraints:
            if isinstance(c, CheckConstraint):
                name = str(c.name)
                checks[name] = _normal_sql(str(c.sqltext))
        out[table.name] = checks
    return out


def _db_checks(engine: Engine) -> dict[str, dict[str, str]]:
    insp = inspect(engine)
    return {
        table: {c["name"]: _normal_sql(c["sqltext"]) for c in insp.get_check_constraints(table)}
        for table in Base.metadata.tables
    }


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal AND c.relname = 'events'"
                )
            )
        else:
            rows = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")
            )
        return {r[0] for r in rows}


def _assert_schema_is_the_models(engine: Engine) -> None:
    assert _diff(engine) == []
    db_checks = _db_checks(engine)
    model_checks = _model_checks()
    # Autogenerate does not compare CHECK constraints: names on both backends, and the
    # SQL itself on SQLite, which reflects it exactly as the migration wrote it.
    assert {t: set(c) for t, c in db_checks.items()} == {t: set(c) for t, c in model_checks.items()}
    if engine.dialect.name == "sqlite":
        assert db_checks == model_checks
    assert {"events_no_update", "events_no_delete"} <= _triggers(engine)


def test_upgrading_an_empty_database_gives_exactly_the_models_schema(empty_engine: Engine):
    assert inspect(empty_engine).get_table_names() == []
    upgrade(empty_engine)
    _assert_schema_is_the_models(empty_engine)


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine):
    upgrade(empty_engine)
    cfg = alembic_config(empty_engine.url.render_as_string(hide_password=False))
    with empty_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    assert _triggers(empty_engine) == set()
    upgrade(empty_engine)
    _assert_schema_is_the_models(empty_engine)


def test_each_revision_steps_down_and_up(empty_engine: Engine):
    """Every revision's downgrade undoes exactly its upgrade, one step at a time."""
    url = empty_engine.url.render_as_string(hide_password=False)
    script = ScriptDirectory.from_config(alembic_config(url))
    revisions = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    assert revisions, "no migrations found"
    for rev in revisions:
        upgrade(empty_engine, rev)
    cfg = alembic_config(url)
    for _ in revisions:
        with empty_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "-1")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_engine)
    assert _diff(empty_engine) == []


def test_one_head_and_dated_file_names():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    for path in VERSIONS.glob("*.py"):
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\w+\.py", path.name), path.name
        source = path.read_text(encoding="utf-8")
        # Migrations never import application code: the schema of their day is written out.
        assert not re.search(r"^\s*(from|import)\s+complaints\b", source, re.MULTILINE), path.name


def _one_event(engine: Engine) -> int:
    """Arrange rows with plain SQL, as the schema allows, and return an event's id."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, email, name, password_hash, active, session_version, created_at) "
                "VALUES (1, 'a@example.com', 'A', 'x', :t, 1, '2026-11-23 08:00:00')"
            ),
            {"t": True},
        )
        conn.execute(
            text("INSERT INTO customers (id, name, created_at) VALUES (1, 'C', '2026-11-23 08:00:00')")
        )
        cols = {c["name"]: c for c in inspect(conn).get_columns("cases")}
        values = {
            "id": 1,
            "reference": "C-2026-000001",
            "state": "new",
            "version": 1,
            "opened_by_id": 1,
            "customer_id": 1,
            "channel": "phone",
            "summary": "s",
            "description": "d",
            "category": "product",
            "severity": "normal",
            "opened_at": "2026-11-23 08:00:00",
            "awaiting_customer": False,
            "reopen_count": 0,
            "event_count": 1,
        }
        # Later revisions may add NOT NULL columns; give them a neutral value.
        for name, col in cols.items():
            if (
                name not in values
                and not col["nullable"]
                and col.get("default") is None
                and not col.get("autoincrement")
            ):
                values[name] = _neutral(col["type"])
        names = ", ".join(values)
        conn.execute(
            text(f"INSERT INTO cases ({names}) VALUES ({', '.join(':' + k for k in values)})"), values
        )
        conn.execute(
            text(
                "INSERT INTO events (id, case_id, seq, at, actor_kind, actor_id, action, data, data_digest, "
                "prev_hash, hash) VALUES (1, 1, 1, '2026-11-23 08:00:00', 'staff', 1, 'case_opened', '{}', "
                ":z, :z, :z)"
            ),
            {"z": "0" * 64},
        )
    return 1


def _neutral(sqltype):
    python_type = sqltype.python_type
    if python_type is bool:
        return False
    if python_type is int:
        return 0
    if python_type is str:
        return ""
    raise AssertionError(f"no neutral value for {sqltype}")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET data = '{\"forged\": true}' WHERE id = 1",
        "UPDATE events SET hash = prev_hash WHERE id = 1",
        "DELETE FROM events WHERE id = 1",
        "DELETE FROM events",
    ],
)
def test_the_events_table_is_append_only(empty_engine: Engine, statement: str):
    upgrade(empty_engine)
    _one_event(empty_engine)
    with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as conn:
        conn.execute(text(statement))
    with empty_engine.connect() as conn:
        row = conn.execute(text("SELECT count(*), min(data) FROM events")).one()
    assert tuple(row) == (1, "{}")
