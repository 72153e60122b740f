"""Warnings about a failing service, logged once a minute rather than once a request.

A Redis or database outage seen by every request would otherwise drown the log in the
same line; one line a minute per kind of failure says it is still going on.
"""

from __future__ import annotations

import logging
import threading
import time

EVERY_SECONDS = 60.0
_last: dict[str, float] = {}
_lock = threading.Lock()


def warn(logger: logging.Logger, key: str, message: str, *args: object) -> bool:
    """Log `message` at WARNING unless `key` was logged less than a minute ago; True if it was
    logged now."""
    now = time.monotonic()
    with _lock:
        if now - _last.get(key, -EVERY_SECONDS) < EVERY_SECONDS:
            return False
        _last[key] = now
    logger.warning(message, *args)
    return True
