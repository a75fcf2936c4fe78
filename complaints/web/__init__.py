"""The staff HTML pages: blueprints, error pages and what every template may use."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from complaints import clock, permissions, vocab
from complaints.auth import login_manager
from complaints.web import display
from complaints.web.forms import LANGUAGE_NAMES
from complaints.workflow import STATE_LABELS, STEPS


def _template_context() -> dict[str, Any]:
    """What differs per request: the language and the time."""
    locale = get_locale()
    parts = (locale.language, locale.territory) if locale else ("en", None)
    return {
        "languages": current_app.config["LANGUAGES"],
        "current_locale": "_".join(p for p in parts if p),  # as in LANGUAGES: en, zh_CN
        "html_lang": "-".join(p for p in parts if p),  # BCP 47: en, zh-CN
        "now": clock.now(),
    }


def _template_globals() -> dict[str, Any]:
    """Templates ask these predicates whether to show an action; they never decide it."""
    return {
        "can_view_case": permissions.can_view_case,
        "can_claim": permissions.can_claim,
        "can_complete_step": permissions.can_complete_step,
        "can_withdraw": permissions.can_withdraw,
        "can_invite_assistant": permissions.can_invite_assistant,
        "can_add_note": permissions.can_add_note,
        "can_open_case": permissions.can_open_case,
        "has_role": permissions.has_role,
        "STATE_LABELS": STATE_LABELS,
        "STEPS": STEPS,
        "ROLE_LABELS": vocab.ROLES,
        "LANGUAGE_NAMES": LANGUAGE_NAMES,
        "when": display.when,
        "day": display.day,
        "label": display.label,
        "is_overdue": display.is_overdue,
    }


def register_web(app: Flask) -> None:
    from complaints.web import (
        admin,
        auth,
        cases,
        customer,
        errors,
        home,
        phrases,
        quality,
        remedies,
        reports,
        settings,
        time_limits,
        updates,
    )

    for blueprint in (auth.bp, home.bp, cases.bp, settings.bp, quality.bp, admin.bp, reports.bp, customer.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(customer.staff_bp)
    app.register_blueprint(phrases.bp)  # the forbidden-phrase list
    app.register_blueprint(updates.bp)  # progress updates on the case page
    app.register_blueprint(time_limits.bp)  # time limits and the working calendar
    app.register_blueprint(remedies.bp)  # remedy approvals and interim measures
    errors.register(app)
    app.context_processor(_template_context)
    app.jinja_env.globals.update(_template_globals())
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    # Flashed messages go into the session cookie: store the translated text, not a lazy string.
    login_manager.localize_callback = str
