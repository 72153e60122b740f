"""Rendered kit files on disk, keyed by what they show; each is rendered once.

Files live in <instance>/kits/. A file lock per key makes two simultaneous first
downloads (threads or worker processes) render once: the second waits, then reads.
Old files are never served (a new content has a new key); `flask kits prune` removes
what no current document uses.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app


def folder() -> Path:
    path = Path(current_app.instance_path) / "kits"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def get_or_build(name: str, build: Callable[[], bytes]) -> Path:
    """The file `name`, built by `build()` the first time."""
    path = folder() / name
    if path.exists():
        return path
    with _locked(folder() / f"{name}.lock"):
        if not path.exists():  # built by whoever held the lock before us
            temporary = path.with_name(f".{name}.{secrets.token_hex(4)}")
            temporary.write_bytes(build())
            os.replace(temporary, path)  # readers see the whole file or none
    return path


def prune(keep: set[str]) -> int:
    """Delete cached files whose names are not in `keep`; returns how many."""
    removed = 0
    for path in folder().iterdir():
        if path.name not in keep and not path.name.endswith(".lock"):
            path.unlink(missing_ok=True)
            removed += 1
        elif path.name.endswith(".lock") and path.name[: -len(".lock")] not in keep:
            path.unlink(missing_ok=True)
    return removed
