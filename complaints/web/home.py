"""Each role's home page: what that person should do next."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from complaints.permissions import can_open_case, can_read_all, has_role
from complaints.web import queries

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index() -> ResponseReturnValue:
    """One section per role held: a person with several roles sees each."""
    user = current_user
    sections = {
        "opened": queries.opened_by(user) if has_role(user, "frontline") else None,
        "unclaimed": queries.unclaimed_queue(user) if has_role(user, "responder") else None,
        "unclaimed_total": queries.count_unclaimed(user) if has_role(user, "responder") else 0,
        "mine": queries.my_open_cases(user) if has_role(user, "responder") else None,
        "assisting": queries.assisting(user) if has_role(user, "responder", "frontline") else None,
        "recent": queries.recent(user) if can_read_all(user) else None,
    }
    return render_template("home/index.html", can_open=can_open_case(user), **sections)
