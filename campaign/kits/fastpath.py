"""Serving cached kit files without running the app for each download.

On the night before a rally, thousands of volunteers download the same few flyers.
Flask's pipeline (session, CSRF, locale, database look-ups to find the file's key)
costs far more than sending the file. This WSGI layer, in front of the app, remembers
for a few seconds (PAGE_CACHE_SECONDS, as every public page) which file and headers
the app answered for a kit URL, and answers the same request straight from the file
meanwhile. After that the app is asked again, so an edited rally shows within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FILE_HEADER = "X-Kit-File"  # set by the kit views, never sent to the client
_DROPPED = {"set-cookie", "content-length", FILE_HEADER.lower()}

StartResponse = Callable[..., Any]


class KitFastPath:
    def __init__(self, app: Callable[..., Iterable[bytes]], seconds: int) -> None:
        self.app = app
        self.seconds = seconds
        self.entries: dict[str, tuple[float, str, list[tuple[str, str]]]] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if not path.startswith("/kit/") or method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        plain = not environ.get("QUERY_STRING")
        entry = self.entries.get(path) if plain else None
        if entry is not None and entry[0] > time.monotonic() and Path(entry[1]).is_file():
            return self._serve(entry[1], entry[2], environ, start_response)

        def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            file = next((v for k, v in headers if k == FILE_HEADER), None)
            if file and plain and self.seconds > 0 and status.startswith("200"):
                kept = [(k, v) for k, v in headers if k.lower() not in _DROPPED]
                self.entries[path] = (time.monotonic() + self.seconds, file, kept)
            sent = [(k, v) for k, v in headers if k != FILE_HEADER]
            return start_response(status, sent, exc_info)

        return self.app(environ, remember)

    @staticmethod
    def _serve(
        file: str, headers: list[tuple[str, str]], environ: dict[str, Any], start: StartResponse
    ) -> Iterable[bytes]:
        etag = next((v for k, v in headers if k.lower() == "etag"), None)
        if etag and environ.get("HTTP_IF_NONE_MATCH") == etag:
            start("304 Not Modified", [(k, v) for k, v in headers if k.lower() != "content-type"])
            return []
        body = Path(file).read_bytes()
        start("200 OK", [*headers, ("Content-Length", str(len(body)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
