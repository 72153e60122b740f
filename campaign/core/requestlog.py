"""One log line per request, with a request id; JSON lines when LOG_FORMAT=json.

The id comes from the proxy's `X-Request-ID` when it sends a sane one (nginx:
`proxy_set_header X-Request-ID $request_id;`), else is made here. It is sent back in the
response's `X-Request-ID`, shown on error pages (a person can quote it), and added to
every log record written while the request runs. The layer sits outermost, so that the
pages answered from the cache in front of Flask are logged too.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask

from campaign.core import metrics

StartResponse = Callable[..., Any]

ENVIRON_KEY = "campaign.request_id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("campaign.request")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def current_request_id() -> str | None:
    """The running request's id, or None outside a request (a command, a job)."""
    value = request_id.get()
    return None if value == "-" else value


@contextlib.contextmanager
def acting_for(rid: str | None) -> Iterator[None]:
    """Log a job's lines under the id of the request that caused it."""
    token = request_id.set(rid or "-")
    try:
        yield
    finally:
        request_id.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, and the fields a
    call passed in `extra`."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class RequestLog:
    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        rid = given if _SANE_ID.fullmatch(given) else secrets.token_hex(8)
        environ[ENVIRON_KEY] = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        status: list[str] = ["-"]

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, [*headers, ("X-Request-ID", rid)], exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            seconds = time.perf_counter() - started
            method = environ.get("REQUEST_METHOD", "")
            line = {
                "method": method,
                "path": environ.get("PATH_INFO"),
                "status": status[0],
                "ms": round(seconds * 1000, 1),
            }
            access_log.info("%(method)s %(path)s %(status)s %(ms)s ms", line, extra=line)
            metrics.observe(
                environ.get(metrics.ROUTE_KEY, metrics.UNMATCHED),
                method if method in _METHODS else "other",
                status[0],
                seconds,
            )
            request_id.reset(token)


def configure_logging(log_format: str) -> None:
    """The process's log lines on stderr: text or JSON, each with its request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger("campaign")
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def init_app(app: Flask) -> None:
    if not app.testing:  # the tests read records through caplog, not stderr
        configure_logging(app.config["LOG_FORMAT"])
    app.jinja_env.globals["request_id"] = request_id.get
    app.wsgi_app = RequestLog(app.wsgi_app)  # type: ignore[method-assign]
