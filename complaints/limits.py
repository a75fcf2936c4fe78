"""Rate limits (Flask-Limiter): the customer link per token and per address.

The counters live in RATELIMIT_STORAGE_URI: ``memory://`` counts per process (the embedded
default); ``redis://…`` shares them across workers and hosts. The limits are read from the
config on every request, so a deployment (or a test) sets them without code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from werkzeug.middleware.proxy_fix import ProxyFix

F = TypeVar("F", bound=Callable[..., Any])


def remote_address() -> str:
    """The client's address (behind TRUSTED_PROXY_COUNT proxies: the one they forwarded)."""
    return request.remote_addr or "unknown"


def link_token_key() -> str:
    """One bucket per customer-link token; counters hold a digest, never the token itself."""
    token = (request.view_args or {}).get("token") or ""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _token_limit() -> str:
    return current_app.config["CUSTOMER_LINK_RATE_LIMIT"]


def _address_limit() -> str:
    return current_app.config["CUSTOMER_LINK_ADDRESS_RATE_LIMIT"]


limiter = Limiter(key_func=remote_address)

# Shared scopes: the link's pages and its JSON twin draw on the same budgets.
_per_token = limiter.shared_limit(_token_limit, scope="customer-link-token", key_func=link_token_key)
_per_address = limiter.shared_limit(_address_limit, scope="customer-link-address", key_func=remote_address)


def customer_link_limits(view: F) -> F:
    """Limit a customer-link view per token and per address (429 when either runs out)."""
    return _per_address(_per_token(view))


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    # Per app: the limiter object is shared, and would otherwise keep one app's choice.
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.enabled = bool(app.config["RATELIMIT_ENABLED"])
    proxies = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if proxies > 0:
        # Trust exactly that many hops of X-Forwarded-For/-Proto/-Host, no more.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    limiter.init_app(app)
