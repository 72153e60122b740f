"""Static files named by their content: `url_for('static', …)` adds `?v=<digest>`.

A changed file gets a new URL, so a URL carrying its digest may be kept for a year by
browsers and by nginx, which serves /static/ itself in production (deploy/nginx). Without
the digest (an old page, a hand-typed URL) the file is revalidated as usual.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, request

YEAR = int(timedelta(days=365).total_seconds())


class Fingerprints:
    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.known: dict[str, tuple[float, str]] = {}

    def digest(self, filename: str) -> str | None:
        path = self.folder / filename
        try:
            mtime = path.stat().st_mtime  # a file edited in development gets a new digest
        except OSError:
            return None
        known = self.known.get(filename)
        if known is None or known[0] != mtime:
            known = (mtime, hashlib.sha256(path.read_bytes()).hexdigest()[:10])
            self.known[filename] = known
        return known[1]


def init_app(app: Flask) -> None:
    if app.static_folder is None:
        return
    fingerprints = Fingerprints(app.static_folder)
    default_max_age = app.get_send_file_max_age

    @app.url_defaults
    def _fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            digest = fingerprints.digest(values["filename"])
            if digest:
                values["v"] = digest

    def max_age(filename: str | None) -> int | None:
        if request.args.get("v"):
            return YEAR
        return default_max_age(filename)

    app.get_send_file_max_age = max_age  # type: ignore[method-assign]
