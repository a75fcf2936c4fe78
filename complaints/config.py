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
    # While a case is open its owner sends the customer a progress update at least this often.
    UPDATE_CADENCE_DAYS = float(os.environ.get("UPDATE_CADENCE_DAYS", "2"))
    LANGUAGES = ("en", "zh_CN")
    # Outgoing mail. With no SMTP_HOST, emails stay queued in the outbox (visible to staff).
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "0"))  # 0: 465 with SMTP_SSL, else 587/25
    SMTP_STARTTLS = os.environ.get("SMTP_STARTTLS", "0") == "1"
    SMTP_SSL = os.environ.get("SMTP_SSL", "0") == "1"  # implicit TLS (port 465)
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "30"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "complaints@complaints.local")
    # Retries: the n-th failure waits base * 2^(n-1) seconds (capped, plus up to 10% jitter);
    # after OUTBOX_MAX_ATTEMPTS the message is kept as failed.
    OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "12"))
    OUTBOX_BACKOFF_BASE_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_BASE_SECONDS", "60"))
    OUTBOX_BACKOFF_MAX_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_MAX_SECONDS", str(6 * 3600)))
    # How long a worker's claim on a message lasts; after a crash another worker resends it then.
    OUTBOX_LEASE_SECONDS = float(os.environ.get("OUTBOX_LEASE_SECONDS", "300"))
    OUTBOX_BATCH_SIZE = int(os.environ.get("OUTBOX_BATCH_SIZE", "100"))
    # The background worker (outbox delivery, deadline checks) runs a pass this often.
    WORKER_INTERVAL_SECONDS = float(os.environ.get("WORKER_INTERVAL_SECONDS", "30"))
    # Audit queue: besides every case with an always-in reason, this share (percent) of the
    # rest, drawn from a hash of (salt, case id): the same case is in or out every time.
    # An empty salt uses SECRET_KEY, so staff cannot tell in advance which cases are drawn.
    AUDIT_SAMPLE_PERCENT = int(os.environ.get("AUDIT_SAMPLE_PERCENT", "10"))
    AUDIT_SAMPLE_SALT = os.environ.get("AUDIT_SAMPLE_SALT", "")
    # The customer link: how long it lives, where it points, how often it may be used.
    CUSTOMER_LINK_DAYS = int(os.environ.get("CUSTOMER_LINK_DAYS", "30"))
    # The public address customers reach (behind a proxy); empty: the address of the request.
    CUSTOMER_LINK_BASE_URL = os.environ.get("CUSTOMER_LINK_BASE_URL", "")
    CUSTOMER_LINK_RATE_LIMIT = os.environ.get("CUSTOMER_LINK_RATE_LIMIT", "30 per minute")
    CUSTOMER_LINK_ADDRESS_RATE_LIMIT = os.environ.get("CUSTOMER_LINK_ADDRESS_RATE_LIMIT", "60 per minute")
    # Where rate-limit counters live: memory:// per process; redis://host:6379 shares them.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Reverse proxies in front of the app whose X-Forwarded-For is trusted (exactly this many).
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    PAGE_SIZE = 25
    API_MAX_LIMIT = 200


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    SMTP_HOST = ""  # tests start their own SMTP server and pass its address
    # High enough for any journey; a test lowers them (they are read on every request).
    CUSTOMER_LINK_RATE_LIMIT = "10000 per minute"
    CUSTOMER_LINK_ADDRESS_RATE_LIMIT = "10000 per minute"
