"""Languages: staff choose theirs (stored per user), customers get their browser's."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel
from flask_login import current_user


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    user = current_user if current_user and current_user.is_authenticated else None
    if user is not None and getattr(user, "locale", None) in languages:
        return user.locale
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    best = request.accept_languages.best_match([lang.replace("_", "-") for lang in languages] + ["zh"])
    if best in ("zh", "zh-CN"):
        return "zh_CN"
    return best.replace("-", "_") if best else current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path.rstrip("/") + "/translations"))
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
