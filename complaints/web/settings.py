"""Per-user settings: for now, the language of the pages."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from complaints.db import get_session
from complaints.web.forms import LanguageForm
from complaints.web.helpers import bind, safe_next

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/language", methods=["POST"])
def language() -> ResponseReturnValue:
    """Stored on the account when signed in (every device follows), else in the session."""
    form = bind(LanguageForm)
    locale = form.locale.data
    if locale not in current_app.config["LANGUAGES"]:
        abort(400, description=_("Unknown language."))
    session["lang"] = locale
    if current_user.is_authenticated:
        current_user.locale = locale
        get_session().commit()
    return redirect(safe_next(form.next.data, url_for("home.index")))
