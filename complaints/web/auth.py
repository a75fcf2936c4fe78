"""Staff sign-in and sign-out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from complaints.db import get_session
from complaints.services.staff import check_password, get_user_by_email
from complaints.web.forms import ButtonForm, LoginForm
from complaints.web.helpers import bind, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("home.index"))
        form = LoginForm(formdata=None, next=request.args.get("next", ""))
        return render_template("auth/login.html", form=form)
    form = bind(LoginForm)
    error = None
    if form.validate():
        user = get_user_by_email(get_session(), form.email.data or "")
        # check_password runs even for unknown emails, so timing tells nothing.
        if check_password(user, form.password.data or "") and user is not None and user.active:
            lang = session.get("lang")
            session.clear()  # no session fixation: a fresh session for the signed-in user
            if lang:
                session["lang"] = lang
            login_user(user)
            return redirect(safe_next(form.next.data, url_for("home.index")))
    error = _("Wrong email or password.")
    form.password.data = ""
    return render_template("auth/login.html", form=form, error=error), 200


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    bind(ButtonForm)
    user = current_user._get_current_object()
    # Every cookie of this user, on every device, stops working.
    user.session_version = (user.session_version or 1) + 1
    get_session().commit()
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))
