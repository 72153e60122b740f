"""A few seconds of cache for the hot public pages, CSRF token included.

A petition page is the same for every visitor but for its CSRF token. It is rendered
once with a placeholder where the token goes, kept for PAGE_CACHE_SECONDS in this
process, and each request only swaps in its own token: the page then costs about what
a bare Flask page does. Counts on a cached page may be that many seconds old.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable

from flask import Response, current_app, session
from flask_wtf.csrf import generate_csrf

from campaign.core.ttlcache import TTLCache

# Random per process, so no visitor can type it into a field that ends up on the page.
CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"

# Keys include tags from the query string (?source=qr-flyer-lyon): bound their number.
_pages: TTLCache[str] = TTLCache(max_entries=500)


def placeholder_token() -> str:
    return CSRF_PLACEHOLDER


def cacheable() -> bool:
    """Not when a message waits in the visitor's session: the page would show it."""
    return "_flashes" not in session


def cached_page(key: Hashable, render: Callable[[], str]) -> Response:
    """The page under `key`, rendered by `render()` (which must use placeholder_token() for
    the CSRF token) at most every PAGE_CACHE_SECONDS, with this visitor's token."""
    html = _pages.get_or_compute(key, current_app.config["PAGE_CACHE_SECONDS"], render)
    return Response(html.replace(CSRF_PLACEHOLDER, generate_csrf()), mimetype="text/html")


def forget(key: Hashable | None = None) -> None:
    _pages.forget(key)
