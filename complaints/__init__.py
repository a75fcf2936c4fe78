"""The complaints application: every complaint a case, one owner from first contact to closure."""

from __future__ import annotations

from typing import Any

from flask import Flask

from complaints.config import ROOT, Config


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app: config, database, extensions, blueprints, errors, commands."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object(Config)
    if overrides:
        app.config.update(overrides)
    _check_secret_key(app)

    from complaints import auth, cli, db, i18n, limits
    from complaints.api import register_api
    from complaints.web import register_web

    db.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    limits.init_app(app)
    register_web(app)
    register_api(app)
    cli.init_app(app)
    return app


def _check_secret_key(app: Flask) -> None:
    """Sign sessions with a real secret; refuse to run in production without one."""
    key = app.config.get("SECRET_KEY") or ""
    if len(key) >= 32 or app.testing:
        return
    if app.config.get("PRODUCTION"):
        raise RuntimeError("SECRET_KEY must be set to a random value of at least 32 characters.")
    # Embedded default: keep one generated key in the instance folder.
    import secrets
    from pathlib import Path

    path = Path(app.instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    app.config["SECRET_KEY"] = path.read_text().strip()
