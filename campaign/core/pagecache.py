"""A whole-response cache for the public pages that are the same for every visitor.

On a campaign's big day the petition page, the home page, the rally finder and the kit
index are most of the traffic. They carry nothing per visitor (no session, no token), so
this WSGI layer, in front of Flask, answers them from a store shared by the workers:
Redis when REDIS_URL is set, else each process's memory, which an edit empties in every
worker through a generation file in the instance folder. A page is rendered at most once
per PAGE_CACHE_SECONDS; a little older, it is still served while one request renders it
again (stale-while-revalidate); when rendering fails (the database is down), the last
page is served, up to a day old, with a banner saying so. Responses carry an ETag, and a
matching If-None-Match gets a 304.

Domains declare their pages with `page(pattern, params)`; the console's edits call
`forget()`, which empties the cache of every worker at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from campaign.core import health, metrics
from campaign.core.templating import PARIS, clock

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Seconds past max-age during which a page is served while it is rendered again, and how
# old a page may be when it stands in for one that could not be rendered.
STALE_WHILE_REVALIDATE = 30
STALE_IF_ERROR = 24 * 3600
MAX_LOCAL_ENTRIES = 500
# Made-up tags (?source=…) must not fill Redis: past this many pages, new ones are rendered
# and not kept, until the next edit or the hash's expiry empties it.
MAX_SHARED_ENTRIES = 5000
# base.html writes this where a banner may go: the cache puts the degraded-mode one there.
BANNER_SLOT = b"<!--page-banner-->"
BANNER = (
    '<p class="flash flash-error" role="alert">Le site rencontre un incident : cette page '
    "date de {time} et peut ne pas être à jour. Les signatures et inscriptions reprendront "
    "dans quelques minutes.</p>"
)
_NOT_KEPT = {"set-cookie", "content-length", "date", "etag", "cache-control", "age"}


@dataclass(frozen=True)
class _Page:
    pattern: re.Pattern[str]
    params: frozenset[str]
    uncached: frozenset[str]
    max_age_setting: str


_pages: list[_Page] = []


def page(
    pattern: str,
    params: Iterable[str] = (),
    uncached: Iterable[str] = (),
    max_age_setting: str = "PAGE_CACHE_SECONDS",
) -> None:
    """Cache the GET pages whose path matches `pattern` (a whole-path regex) for the
    seconds of the `max_age_setting` setting (0: not cached). Query parameters in `params`
    make pages of their own (bounded in length); one in `uncached` (a search) makes the
    page rendered each time; any other one is ignored by the view, so the page is the same."""
    _pages.append(
        _Page(re.compile(pattern), frozenset(params), frozenset(uncached), max_age_setting)
    )


@dataclass
class Entry:
    stored_at: float
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    etag: str = ""

    def __post_init__(self) -> None:
        # Once per rendering, not per request served.
        if not self.etag:
            self.etag = '"' + hashlib.blake2b(self.body, digest_size=12).hexdigest() + '"'

    def dumps(self) -> bytes:
        head = {"t": self.stored_at, "s": self.status, "h": self.headers, "e": self.etag}
        return json.dumps(head).encode() + b"\n" + self.body

    @classmethod
    def loads(cls, data: bytes) -> Entry:
        head, _, body = data.partition(b"\n")
        fields = json.loads(head)
        headers = [(k, v) for k, v in fields["h"]]
        return cls(fields["t"], fields["s"], headers, body, fields.get("e", ""))


class LocalStore:
    """This process's pages. `forget()` writes the generation file; every process sees its
    change on its next request (one stat) and empties its own pages."""

    def __init__(self, generation_file: Path) -> None:
        self.generation_file = generation_file
        self.entries: dict[str, Entry] = {}
        self.claims: dict[str, float] = {}
        self.lock = threading.Lock()
        self.generation = self._read_generation()

    def _read_generation(self) -> int:
        try:
            return self.generation_file.stat().st_mtime_ns
        except OSError:
            return 0

    def _sync(self) -> None:
        generation = self._read_generation()
        if generation != self.generation:
            with self.lock:
                self.generation = generation
                self.entries.clear()

    def get(self, key: str) -> Entry | None:
        self._sync()
        return self.entries.get(key)

    def put(self, key: str, entry: Entry) -> None:
        with self.lock:
            if len(self.entries) >= MAX_LOCAL_ENTRIES and key not in self.entries:
                self.entries.pop(next(iter(self.entries)))  # the oldest stored
            self.entries[key] = entry
            self.claims.pop(key, None)

    def claim(self, key: str, seconds: float) -> bool:
        """True for the one caller that re-renders `key` in the next `seconds`."""
        now = time.monotonic()
        with self.lock:
            if self.claims.get(key, 0) > now:
                return False
            self.claims[key] = now + seconds
            return True

    def forget(self) -> None:
        with self.lock:
            self.entries.clear()
            self.claims.clear()
        self.generation_file.parent.mkdir(parents=True, exist_ok=True)
        self.generation_file.write_text(str(time.time_ns()))
        self.generation = self._read_generation()


class RedisStore:
    """Pages in one Redis hash, shared by every worker and host; `forget()` deletes it."""

    def __init__(self, client: redis.Redis, name: str = "campaign:pages") -> None:
        self.client = client
        self.name = name

    def get(self, key: str) -> Entry | None:
        data = self.client.hget(self.name, key)
        return Entry.loads(data) if data else None  # type: ignore[arg-type]

    def put(self, key: str, entry: Entry) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            size, kept = pipe.hlen(self.name).hexists(self.name, key).execute()
        if size >= MAX_SHARED_ENTRIES and not kept:
            return
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.name, key, entry.dumps())
            pipe.expire(self.name, STALE_IF_ERROR)  # bounded: the hash lives a day at most
            pipe.delete(f"{self.name}:claim:{key}")
            pipe.execute()

    def claim(self, key: str, seconds: float) -> bool:
        return bool(self.client.set(f"{self.name}:claim:{key}", 1, nx=True, ex=int(seconds) + 1))

    def forget(self) -> None:
        self.client.delete(self.name)


class Store:
    """Redis when configured, this process's memory when Redis fails (logged once a
    minute, Redis tried again after a few seconds).

    With Redis, a page fetched from it is also kept in this process's memory for
    NEAR_SECONDS: asking Redis for 20 KB on every request was half of a worker's time.
    An edit empties that memory at once on this host (the generation file); on other
    hosts it shows within NEAR_SECONDS.
    """

    RETRY_SECONDS = 5.0
    NEAR_SECONDS = 1.0

    def __init__(self, local: LocalStore, shared: RedisStore | None) -> None:
        self.local = local
        self.shared = shared
        self.down_until = 0.0
        self.fetched: dict[str, float] = {}  # key: when this process last read it from Redis

    def _call(self, name: str, *args: Any) -> Any:
        shared = self.shared
        if shared is not None and time.monotonic() >= self.down_until:
            try:
                return getattr(shared, name)(*args)
            except redis.RedisError as exc:
                self.down_until = time.monotonic() + self.RETRY_SECONDS
                health.warn(
                    log,
                    "pagecache-redis",
                    "Page cache: Redis unreachable (%s); each worker keeps its own pages",
                    exc,
                )
        return getattr(self.local, name)(*args)

    def get(self, key: str) -> Entry | None:
        near = self.local.get(key)  # also empties this memory after an edit anywhere here
        if self.shared is None:
            return near
        now = time.monotonic()
        if near is not None and now - self.fetched.get(key, -self.NEAR_SECONDS) < self.NEAR_SECONDS:
            return near
        entry: Entry | None = self._call("get", key)  # this memory's, when Redis fails
        if entry is not None and entry is not near:
            self._keep_near(key, entry, now)
        return entry

    def _keep_near(self, key: str, entry: Entry, now: float) -> None:
        if len(self.fetched) > 2 * MAX_LOCAL_ENTRIES:
            self.fetched.clear()
        self.local.put(key, entry)
        self.fetched[key] = now

    def put(self, key: str, entry: Entry) -> None:
        self._call("put", key, entry)
        if self.shared is not None:
            self._keep_near(key, entry, time.monotonic())

    def claim(self, key: str, seconds: float) -> bool:
        return self._call("claim", key, seconds)

    def forget(self) -> None:
        self.local.forget()  # the fallback's pages too, in every process
        if self.shared is not None:
            self._call("forget")


def _has_session(environ: dict[str, Any], cookie_name: str) -> bool:
    return f"{cookie_name}=" in environ.get("HTTP_COOKIE", "")


class PageCache:
    """The WSGI layer. Reads its settings from the Flask app on each request, so a test
    may turn it on and off."""

    def __init__(self, wsgi_app: WSGIApp, app: Flask, store: Store) -> None:
        self.wsgi_app = wsgi_app
        self.config = app.config
        self.store = store
        self.url_map = app.url_map
        self.routes: dict[_Page, str] = {}

    def route(self, declared: _Page, path: str) -> str:
        """The URL rule of a declared page, for the metrics: found once per process."""
        known = self.routes.get(declared)
        if known is None:
            try:
                rule, _ = self.url_map.bind("localhost").match(path, return_rule=True)
                known = rule.rule
            except HTTPException:
                known = declared.pattern.pattern
            self.routes[declared] = known
        return known

    def key(self, environ: dict[str, Any]) -> tuple[str, int] | None:
        """The page's key in the store and its max-age; None when it is not kept."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        path = environ.get("PATH_INFO", "")
        for declared in _pages:
            if declared.pattern.fullmatch(path):
                environ[metrics.ROUTE_KEY] = self.route(declared, path)
                seconds = self.config[declared.max_age_setting]
                if seconds <= 0:
                    return None
                query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=False)
                kept = sorted((k, v) for k, v in query if k in declared.params)
                if any(len(v) > 100 for _, v in kept) or any(
                    k in declared.uncached for k, _ in query
                ):
                    return None  # a search, or not a tag anyone printed: rendered, not kept
                return (f"{path}?{urlencode(kept)}" if kept else path), seconds
        return None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        found = self.key(environ)
        if found is None or _has_session(environ, self.config["SESSION_COOKIE_NAME"]):
            return self.wsgi_app(environ, start_response)
        key, seconds = found
        entry = self.store.get(key)
        age = time.time() - entry.stored_at if entry else 0.0
        if entry is not None and (
            age < seconds
            or (age < seconds + STALE_WHILE_REVALIDATE and not self.store.claim(key, seconds))
        ):
            metrics.PAGE_CACHE.labels("hit" if age < seconds else "stale").inc()
            return self._serve(entry, environ, start_response, age, seconds)
        status, headers, body = self._render(environ)
        if _keepable(status, headers):
            metrics.PAGE_CACHE.labels("miss").inc()
            fresh = Entry(time.time(), status, _kept(headers), body)
            self.store.put(key, fresh)
            return self._serve(fresh, environ, start_response, 0.0, seconds)
        if status[0] == "5" and entry is not None and age < STALE_IF_ERROR:
            metrics.PAGE_CACHE.labels("stale_on_error").inc()
            return self._serve_stale(entry, environ, start_response)
        metrics.PAGE_CACHE.labels("miss").inc()
        start_response(status, headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _render(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda data: None  # the body comes back as the iterable

        # A HEAD is rendered as a GET, so that the page kept has its body.
        result = self.wsgi_app({**environ, "REQUEST_METHOD": "GET"}, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured[0], captured[1], body

    @staticmethod
    def _headers(entry: Entry, age: float, seconds: int) -> list[tuple[str, str]]:
        return [
            *entry.headers,
            ("ETag", entry.etag),
            (
                "Cache-Control",
                f"public, max-age={seconds}, stale-while-revalidate={STALE_WHILE_REVALIDATE}",
            ),
            ("Age", str(int(age))),
        ]

    def _serve(
        self,
        entry: Entry,
        environ: dict[str, Any],
        start_response: StartResponse,
        age: float,
        seconds: int,
    ) -> Iterable[bytes]:
        headers = self._headers(entry, age, seconds)
        if entry.etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            start_response("304 Not Modified", [h for h in headers if h[0] != "Content-Type"])
            return []
        start_response(entry.status, [*headers, ("Content-Length", str(len(entry.body)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [entry.body]

    def _serve_stale(
        self, entry: Entry, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """The last good page, marked as such, while the app cannot render it."""
        when = clock(datetime.fromtimestamp(entry.stored_at, PARIS).time())
        body = entry.body.replace(BANNER_SLOT, BANNER.format(time=when).encode())
        headers = [
            *entry.headers,
            ("Cache-Control", "no-store"),
            ("Content-Length", str(len(body))),
        ]
        start_response("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _keepable(status: str, headers: list[tuple[str, str]]) -> bool:
    if not status.startswith("200"):
        return False
    for name, value in headers:
        lower = name.lower()
        if lower == "set-cookie":
            return False
        if lower == "cache-control" and ("no-store" in value or "private" in value):
            return False
    return True


def _kept(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in _NOT_KEPT]


def init_app(app: Flask) -> None:
    """Put the cache in front of the app (after the blueprints declared their pages)."""
    url = app.config["REDIS_URL"]
    shared = (
        RedisStore(redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))
        if url
        else None
    )
    store = Store(LocalStore(Path(app.instance_path) / "pagecache.generation"), shared)
    app.extensions["pagecache"] = store
    app.wsgi_app = PageCache(app.wsgi_app, app, store)  # type: ignore[method-assign]


def forget() -> None:
    """Empty the page cache of every worker: an edit shows on the next request."""
    current_app.extensions["pagecache"].forget()


def _forget_after_edit(response: Response) -> Response:
    if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400:
        forget()
    return response


def forget_after_edits(bp: Blueprint) -> None:
    """Every successful POST of `bp` (the console, the member space) may change a public
    page: empty the cache after it."""
    bp.after_request(_forget_after_edit)
