"""The hot petition page is cached a few seconds, each visitor still getting a CSRF token
of their own that works."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import event

from campaign.core.pagecache import CSRF_PLACEHOLDER
from campaign.extensions import db
from tests.factories import SIGN_FORM, csrf_from, make_petition


@pytest.fixture
def cached(app: Flask, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 60)
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    return slug


def _statements_during(app: Flask, action):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return result, seen


def test_visitors_share_the_page_but_not_the_token(app: Flask, cached: str):
    alice, bob = app.test_client(), app.test_client()
    first = alice.get(f"/petitions/{cached}")
    second, queries = _statements_during(app, lambda: bob.get(f"/petitions/{cached}"))

    assert queries == []  # served from the cache
    assert CSRF_PLACEHOLDER not in first.text + second.text
    token_a, token_b = csrf_from(first.text), csrf_from(second.text)
    assert token_a != token_b

    def post(client, email: str, token: str) -> int:  # type: ignore[no-untyped-def]
        data = {**SIGN_FORM, "email": email, "csrf_token": token}
        return client.post(f"/petitions/{cached}", data=data).status_code

    assert post(alice, "a@example.org", token_a) == 303
    assert post(bob, "b@example.org", token_b) == 303
    assert post(bob, "c@example.org", token_a) == 400  # a token only works in its session


def test_source_tags_get_their_own_cached_page(app: Flask, cached: str):
    client = app.test_client()
    plain = client.get(f"/petitions/{cached}").text
    tagged = client.get(f"/petitions/{cached}?source=qr-flyer-lyon&fbclid=xyz").text
    assert 'name="source" type="hidden" value="qr-flyer-lyon"' in tagged
    assert 'value="qr-flyer-lyon"' not in plain


def test_unknown_petitions_are_not_cached(app: Flask, cached: str):
    client = app.test_client()
    assert client.get("/petitions/nope").status_code == 404
    _, queries = _statements_during(app, lambda: client.get("/petitions/nope"))
    assert queries  # looked up again, not served from a cache
