"""The staff and customer HTML pages."""

from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    pass
