"""Error pages for the staff pages; the JSON API under /api/ answers its own errors."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

TITLES = {
    400: _l("The request could not be used"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    405: _l("Not possible this way"),
    500: _l("Something went wrong"),
}
MESSAGES = {
    400: _l("The page sent something we cannot use. Nothing was changed."),
    403: _l("You do not have access to this page."),
    404: _l("There is nothing at this address. It may have been mistyped."),
    405: _l("This address does not accept this kind of request."),
    500: _l("The error has been logged. Please try again in a moment."),
}


def _page(e: HTTPException, message: str | None = None) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return e
    code = e.code or 500
    if message is None:
        # A description given with abort() is ours and translated; Werkzeug's default is not.
        own = e.description if e.description != type(e).description else None
        message = own or str(MESSAGES.get(code, MESSAGES[400]))
    title = TITLES.get(code, TITLES[400])
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _csrf(e: CSRFError) -> ResponseReturnValue:
    return _page(
        e,
        str(
            _l("The form had expired or did not come from this site. Go back, reload the page and try again.")
        ),
    )


def register(app: Flask) -> None:
    for code in (400, 403, 404, 405):
        app.register_error_handler(code, _page)
    app.register_error_handler(CSRFError, _csrf)
