"""Settings from the environment, with one place for every tunable limit."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_database_url() -> str:
    instance = Path(os.environ.get("COMPLAINTS_INSTANCE", ROOT / "instance"))
    return f"sqlite:///{instance / 'complaints.db'}"


class Config:
    """Read once at start-up; tests pass overrides to create_app()."""

    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    # In production the app refuses to start without a strong SECRET_KEY.
    PRODUCTION = os.environ.get("COMPLAINTS_ENV", "") == "production"
    DATABASE_URL = os.environ.get("DATABASE_URL") or _default_database_url()
    # Seconds an SQLite writer waits for the lock before giving up.
    SQLITE_BUSY_TIMEOUT = int(os.environ.get("SQLITE_BUSY_TIMEOUT", "30"))
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(16 * 1024 * 1024)))
    BABEL_DEFAULT_LOCALE = os.environ.get("BABEL_DEFAULT_LOCALE", "en")
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")
    # How long the customer has to answer the satisfaction question before
    # the owner may close the case as "no response".
    FOLLOW_UP_WINDOW = timedelta(days=int(os.environ.get("FOLLOW_UP_WINDOW_DAYS", "7")))
    LANGUAGES = ("en", "zh_CN")
    PAGE_SIZE = 25
    API_MAX_LIMIT = 200


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
