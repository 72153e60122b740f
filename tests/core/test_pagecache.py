"""The whole-response cache in front of Flask: shared pages, ETag and 304, invalidation
after an edit, stale pages while the database is down, Redis shared between workers and
the fall-back to each process's memory."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from werkzeug.test import Client

from campaign.console.models import Role
from campaign.core import health, pagecache
from campaign.extensions import db
from campaign.petition import services
from tests.console.helpers import sign_in
from tests.console.test_collective_console import IDENTITY, identity_fields, post
from tests.factories import layer, make_collective, make_day, make_petition, make_rally

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def on(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 60)


@pytest.fixture
def slug(app: Flask, on: None) -> str:
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    return slug


def _statements(app: Flask, action: Callable[[], Any]) -> tuple[Any, list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        return action(), seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _age_every_page(app: Flask, seconds: float) -> None:
    for entry in app.extensions["pagecache"].local.entries.values():
        entry.stored_at -= seconds


# --- shared, validated, bounded -----------------------------------------------------------


def test_the_page_is_rendered_once_and_then_served_without_flask(
    app: Flask, client: FlaskClient, slug: str
):
    first = client.get(f"/petitions/{slug}")
    second, statements = _statements(app, lambda: app.test_client().get(f"/petitions/{slug}"))
    assert first.status_code == second.status_code == 200
    assert statements == []  # no database, no session, no routing
    assert second.data == first.data
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=30"
    assert "Set-Cookie" not in second.headers
    # The security headers of the rendered page come with the kept one.
    assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    assert second.headers["Content-Length"] == str(len(first.data))


def test_a_matching_if_none_match_gets_a_304_without_a_body(
    app: Flask, client: FlaskClient, slug: str
):
    etag = client.get(f"/petitions/{slug}").headers["ETag"]
    again = client.get(f"/petitions/{slug}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    other = client.get(f"/petitions/{slug}", headers={"If-None-Match": '"autre"'})
    assert other.status_code == 200 and other.data


def test_a_head_request_gets_the_headers_of_the_page(app: Flask, client: FlaskClient, slug: str):
    head = client.head(f"/petitions/{slug}")
    get = client.get(f"/petitions/{slug}")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == get.headers["ETag"]  # the HEAD kept the whole page


def test_tags_make_pages_of_their_own_and_other_parameters_do_not(
    app: Flask, client: FlaskClient, slug: str
):
    plain = client.get(f"/petitions/{slug}")
    tagged = client.get(f"/petitions/{slug}?source=qr-lyon")
    assert 'value="qr-lyon"' in tagged.text and 'value="qr-lyon"' not in plain.text
    ignored, statements = _statements(
        app, lambda: client.get(f"/petitions/{slug}?fbclid=abc&utm_content=x")
    )
    assert statements == [] and ignored.data == plain.data


def test_a_search_in_the_rally_finder_is_rendered_each_time(app: Flask, client: FlaskClient, on):
    with app.app_context():
        make_rally(make_day(make_collective()))
        db.session.commit()
    client.get("/rassemblements")
    _, plain = _statements(app, lambda: client.get("/rassemblements"))
    _, search = _statements(app, lambda: client.get("/rassemblements?q=Lyon"))
    assert plain == [] and search != []


def test_errors_and_unknown_pages_are_not_kept(app: Flask, client: FlaskClient, on: None):
    assert client.get("/petitions/inconnue").status_code == 404
    assert app.extensions["pagecache"].local.entries == {}


def test_a_visitor_with_a_session_gets_the_page_from_flask(app: Flask, slug: str):
    """An organiser signed in may have a message waiting in the session: no shared page."""
    organiser = app.test_client()
    sign_in(app, organiser, Role.ORGANISER)
    app.test_client().get(f"/petitions/{slug}")
    _, statements = _statements(app, lambda: organiser.get(f"/petitions/{slug}"))
    assert statements != []


def test_the_home_page_the_finder_and_the_kit_index_are_kept(app: Flask, on: None):
    with app.app_context():
        collective = make_collective()
        make_petition(collective)
        make_rally(make_day(collective))
        db.session.commit()
    for path in ("/", "/rassemblements", "/kit/"):
        first = app.test_client().get(path)
        second, statements = _statements(app, lambda p=path: app.test_client().get(p))
        assert first.status_code == 200, path
        assert statements == [], path
        assert second.headers["ETag"] == first.headers["ETag"]


def test_the_count_json_is_kept_only_as_long_as_a_count_is(
    app: Flask, client: FlaskClient, slug: str, monkeypatch: pytest.MonkeyPatch
):
    """Its own max-age, COUNT_CACHE_SECONDS (the age a count may have anyway), not the
    page's; 0 (as in the other tests) asks the app every time."""
    monkeypatch.setitem(app.config, "COUNT_CACHE_SECONDS", 2)
    path = f"/petitions/{slug}/count.json"
    first = client.get(path)
    again, statements = _statements(app, lambda: client.get(path))
    assert statements == [] and again.json == first.json
    assert again.headers["Cache-Control"] == "public, max-age=2, stale-while-revalidate=30"
    assert "Age" in again.headers
    monkeypatch.setitem(app.config, "COUNT_CACHE_SECONDS", 0)
    live = client.get(path)
    assert "Age" not in live.headers  # the view's own answer, not a kept one
    assert live.headers["Cache-Control"] != again.headers["Cache-Control"]


# --- invalidation -------------------------------------------------------------------------


def test_an_edit_in_the_console_shows_on_the_next_request(app: Flask, on: None):
    with app.app_context():
        make_collective()
        db.session.commit()
    visitor = app.test_client()
    assert "Les 400 000" not in visitor.get("/").text
    admin = app.test_client()
    sign_in(app, admin, Role.ADMIN)
    assert post(admin, IDENTITY, identity_fields()).status_code == 303
    assert "Les 400 000" in visitor.get("/").text


def test_a_refused_console_post_keeps_the_pages(app: Flask, on: None):
    with app.app_context():
        make_collective()
        db.session.commit()
    admin = app.test_client()
    sign_in(app, admin, Role.ADMIN)
    app.test_client().get("/")
    assert post(admin, IDENTITY, identity_fields(brand_colour="jaune")).status_code == 422
    assert "/" in app.extensions["pagecache"].local.entries


def test_forget_reaches_every_process_through_the_generation_file(tmp_path: Path):
    """Two workers without Redis: one forgets, the other drops its pages on its next look."""
    file = tmp_path / "pagecache.generation"
    worker_a, worker_b = pagecache.LocalStore(file), pagecache.LocalStore(file)
    entry = pagecache.Entry(0.0, "200 OK", [], b"page")
    worker_a.put("/", entry)
    worker_b.put("/", entry)
    worker_a.forget()
    assert worker_b.get("/") is None
    assert worker_a.get("/") is None
    worker_b.put("/", entry)
    assert worker_b.get("/") == entry


# --- stale pages -------------------------------------------------------------------------


def test_a_page_past_its_age_is_served_while_one_request_renders_it(
    app: Flask, client: FlaskClient, slug: str
):
    first = client.get(f"/petitions/{slug}")
    _age_every_page(app, 61)  # past max-age, within stale-while-revalidate
    store = app.extensions["pagecache"]
    assert store.claim(f"/petitions/{slug}", 60)  # another request is rendering it
    stale, statements = _statements(app, lambda: client.get(f"/petitions/{slug}"))
    assert statements == [] and stale.data == first.data
    assert int(stale.headers["Age"]) >= 61


def test_while_the_database_is_down_the_last_page_is_served_with_a_banner(
    app: Flask, client: FlaskClient, slug: str, monkeypatch: pytest.MonkeyPatch
):
    client.get(f"/petitions/{slug}")
    _age_every_page(app, 3600)  # long stale: would be rendered again

    def unreachable(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(services, "get_petition", unreachable)
    response = client.get(f"/petitions/{slug}")
    assert response.status_code == 200
    assert "Le site rencontre un incident" in response.text
    assert "Pétition d’essai" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    # Without a kept page: the French 503, with Retry-After.
    missing = client.get(f"/petitions/{slug}?source=jamais-vue")
    assert missing.status_code == 503
    assert missing.headers["Retry-After"] == "30"
    assert "Service momentanément indisponible" in missing.text


def test_the_banner_slot_is_empty_on_a_normal_page(app: Flask, client: FlaskClient, slug: str):
    page = client.get(f"/petitions/{slug}").text
    assert "<!--page-banner-->" in page
    assert "Le site rencontre un incident" not in page


# --- Redis --------------------------------------------------------------------------------


@pytest.fixture
def redis_store() -> Iterator[pagecache.RedisStore]:
    client = redis.Redis.from_url(REDIS_URL)
    store = pagecache.RedisStore(client, name=f"test:pages:{uuid.uuid4().hex}")
    try:
        yield store
    finally:
        store.forget()
        client.close()


def _worker(app: Flask, store: pagecache.Store) -> Client:
    """Another worker process: its own PageCache in front of the same Flask app."""
    inner = layer(app, pagecache.PageCache).wsgi_app  # type: ignore[attr-defined]
    return Client(pagecache.PageCache(inner, app, store), app.response_class)


def test_workers_share_pages_through_redis_and_forget_them_together(
    app: Flask, slug: str, redis_store: pagecache.RedisStore, tmp_path: Path
):
    generation = tmp_path / "generation"
    worker_a = _worker(app, pagecache.Store(pagecache.LocalStore(generation), redis_store))
    store_b = pagecache.Store(pagecache.LocalStore(generation), redis_store)
    worker_b = _worker(app, store_b)
    headers = {"Sec-Fetch-Site": "same-origin"}
    first = worker_a.get(f"/petitions/{slug}", headers=headers)
    second, statements = _statements(app, lambda: worker_b.get(f"/petitions/{slug}"))
    assert statements == [] and second.data == first.data
    store_b.forget()
    _, statements = _statements(app, lambda: worker_a.get(f"/petitions/{slug}"))
    assert statements != []  # rendered again after the edit


def test_with_redis_down_each_worker_keeps_its_own_pages_and_says_so_once(
    app: Flask, slug: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    store = pagecache.Store(pagecache.LocalStore(tmp_path / "g"), pagecache.RedisStore(dead))
    worker = _worker(app, store)
    health._last.pop("pagecache-redis", None)
    with caplog.at_level(logging.WARNING, logger="campaign.core.pagecache"):
        first = worker.get(f"/petitions/{slug}")
        store.down_until = 0  # tried again at once: still down, not logged again
        second, statements = _statements(app, lambda: worker.get(f"/petitions/{slug}"))
    assert first.status_code == second.status_code == 200
    assert statements == [] and second.data == first.data  # from this process's memory
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1


def test_made_up_tags_cannot_fill_redis(
    redis_store: pagecache.RedisStore, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(pagecache, "MAX_SHARED_ENTRIES", 3)
    entry = pagecache.Entry(0.0, "200 OK", [], b"page")
    for n in range(5):
        redis_store.put(f"/petitions/x?source={n}", entry)
    assert [redis_store.get(f"/petitions/x?source={n}") is not None for n in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    redis_store.put("/petitions/x?source=0", entry)  # a kept page is still refreshed
    assert redis_store.get("/petitions/x?source=0") == entry


def test_another_host_sees_an_edit_within_a_second_without_asking_redis_each_time(
    redis_store: pagecache.RedisStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    host_a = pagecache.Store(pagecache.LocalStore(tmp_path / "a"), redis_store)
    host_b = pagecache.Store(pagecache.LocalStore(tmp_path / "b"), redis_store)
    entry = pagecache.Entry(0.0, "200 OK", [], b"page")
    host_a.put("/", entry)
    assert host_b.get("/") == entry  # read from Redis, kept near
    asked: list[str] = []
    real_get = redis_store.get
    monkeypatch.setattr(redis_store, "get", lambda key: asked.append(key) or real_get(key))
    host_a.forget()  # an edit on host A
    assert host_b.get("/") == entry and asked == []  # within the second: this memory's page
    host_b.fetched["/"] -= pagecache.Store.NEAR_SECONDS  # a second later
    assert host_b.get("/") is None and asked == ["/"]  # Redis asked again: the edit shows


def test_static_urls_carry_the_file_digest_and_are_kept_a_year(client: FlaskClient):
    import hashlib
    import re

    from campaign.config import ROOT

    page = client.get("/").text
    match = re.search(r'href="(/static/css/site\.css\?v=([0-9a-f]+))"', page)
    assert match, "the stylesheet's URL has no digest"
    expected = hashlib.sha256((ROOT / "static/css/site.css").read_bytes()).hexdigest()[:10]
    assert match.group(2) == expected
    with client.get(match.group(1)) as fingerprinted:
        assert fingerprinted.status_code == 200
        assert "max-age=31536000" in fingerprinted.headers["Cache-Control"]
    with client.get("/static/css/site.css") as plain:
        assert plain.status_code == 200
        assert "max-age=31536000" not in plain.headers.get("Cache-Control", "")
