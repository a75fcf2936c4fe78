"""Engine, sessions and the declarative Base; SQLite tuned for concurrent use."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Naive UTC, microsecond precision: stored and hashed the same on every database."""
    return datetime.now(UTC).replace(tzinfo=None)


# Whether transactions started now will write. SQLite needs BEGIN IMMEDIATE for
# those: a deferred transaction that reads and then writes fails at once with
# "database is locked" instead of waiting for the busy timeout.
_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)


def _configure_sqlite(engine: Engine, busy_timeout: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout) * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def make_engine(url: str, *, busy_timeout: int = 30, echo: bool = False) -> Engine:
    """One engine per process; on PostgreSQL, pings connections so a restart is survived."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            pool_pre_ping=True,
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800)


class Database:
    """Created at app start, but opens its engine lazily: after a server forks its workers."""

    def __init__(self, url: str, busy_timeout: int = 30) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, busy_timeout=self.busy_timeout)
            self._factory = sessionmaker(self._engine, expire_on_commit=False)
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def new_session(self) -> Session:
        self.engine  # noqa: B018 - make sure the factory exists
        assert self._factory is not None
        return self._factory()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session committed at the end, rolled back on any error (CLI and workers)."""
        token = _write_intent.set(write)
        session = self.new_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            _write_intent.reset(token)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._factory = None


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["complaints_db"]


def get_session() -> Session:
    """The request's session: one per request, committed by the view that changes data."""
    if "db_session" not in g:
        g.db_session = get_db().new_session()
    return g.db_session


def init_app(app: Flask) -> None:
    app.extensions["complaints_db"] = Database(app.config["DATABASE_URL"], app.config["SQLITE_BUSY_TIMEOUT"])

    @app.before_request
    def _mark_read_only() -> None:
        g.write_token = _write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()
        token = g.pop("write_token", None)
        if token is not None:
            _write_intent.reset(token)
