"""The one clock: tests set ``app.config["CLOCK"]`` to a callable to move time."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from complaints.db import utcnow


def now() -> datetime:
    clock = current_app.config.get("CLOCK")
    return clock() if clock else utcnow()
