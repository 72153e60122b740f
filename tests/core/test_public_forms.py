"""Public forms without a session: cross-site posts refused by Fetch Metadata and origin
checks, the time trap, and no cookie on any anonymous page."""

from __future__ import annotations

import re
import time
from collections import deque
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaign.core import forms
from campaign.extensions import db
from campaign.petition.models import Signature
from campaign.rallies.models import Rsvp
from tests.conftest import PUBLIC_URL
from tests.factories import (
    FORM_STAMP,
    RSVP_FORM,
    SECRET_KEY,
    SIGN_FORM,
    make_collective,
    make_day,
    make_member,
    make_petition,
    make_rally,
)

REFUSED = "Ce formulaire a été envoyé depuis un autre site"


def _signatures(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Signature)) or 0


def _bare(app: Flask) -> FlaskClient:
    """A client that sends no Fetch Metadata (an older browser, or a script)."""
    return FlaskClient(app, app.response_class, use_cookies=True)


# --- the rules, on the signing form ------------------------------------------------------


@pytest.mark.parametrize("fetch_site", ["same-origin", "none"])
def test_a_post_the_browser_calls_same_origin_is_accepted(app: Flask, slug: str, fetch_site):
    response = _bare(app).post(
        f"/petitions/{slug}", data=SIGN_FORM, headers={"Sec-Fetch-Site": fetch_site}
    )
    assert response.status_code == 303
    assert _signatures(app) == 1


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site", "garbage"])
def test_a_post_from_another_site_is_a_french_403_and_saves_nothing(
    app: Flask, slug: str, fetch_site: str
):
    # A forged Origin does not help: the browser's own word wins.
    response = _bare(app).post(
        f"/petitions/{slug}",
        data=SIGN_FORM,
        headers={"Sec-Fetch-Site": fetch_site, "Origin": PUBLIC_URL},
    )
    assert response.status_code == 403
    assert REFUSED in response.text
    assert 'lang="fr"' in response.text
    assert _signatures(app) == 0


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"Origin": PUBLIC_URL}, True),
        ({"Origin": PUBLIC_URL.upper()}, True),  # an origin's scheme and host have no case
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),  # a sandboxed frame, a data: URL
        ({"Origin": PUBLIC_URL.replace("https", "http")}, False),
        ({"Origin": PUBLIC_URL + ":8443"}, False),
        # Origin decides when present, even with a matching Referer.
        ({"Origin": "https://evil.example", "Referer": PUBLIC_URL + "/petitions/x"}, False),
        ({"Referer": PUBLIC_URL + "/petitions/x?source=qr"}, True),
        ({"Referer": "https://evil.example/petitions/x"}, False),
        ({"Referer": "https://petition.example.org.evil.example/"}, False),
        ({"Referer": "not a url"}, False),
        ({}, False),  # nothing proves where it came from
    ],
)
def test_without_fetch_metadata_origin_then_referer_decide(
    app: Flask, slug: str, headers: dict[str, str], accepted: bool
):
    response = _bare(app).post(f"/petitions/{slug}", data=SIGN_FORM, headers=headers)
    assert response.status_code == (303 if accepted else 403)
    assert _signatures(app) == (1 if accepted else 0)


# --- every public form -------------------------------------------------------------------


@pytest.fixture
def targets(app: Flask) -> dict[str, tuple[str, dict[str, str]]]:
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        rally = make_rally(make_day(collective))
        make_member(collective)
        db.session.commit()
        slug, rally_id = petition.slug, rally.id
    return {
        "sign": (f"/petitions/{slug}", SIGN_FORM),
        "resend": (f"/petitions/{slug}/renvoyer", {"email": "jeanne@example.org"}),
        "withdraw": ("/signature/retirer/" + "x" * 43, {}),
        "rsvp": (f"/rassemblements/{rally_id}", RSVP_FORM),
        "cancel rsvp": ("/rassemblements/venue/" + "x" * 43 + "/annuler", {}),
        "join": ("/rejoindre", {"started": FORM_STAMP, "name": "Asso"}),
        "management link": ("/organisations/gerer", {"email": "contact@example.org"}),
    }


@pytest.mark.parametrize(
    "form", ["sign", "resend", "withdraw", "rsvp", "cancel rsvp", "join", "management link"]
)
def test_every_public_form_refuses_a_cross_site_post(app: Flask, targets, form: str):
    path, data = targets[form]
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Rsvp)), _signatures(app)
    response = _bare(app).post(path, data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403, form
    assert REFUSED in response.text
    with app.app_context():
        assert (db.session.scalar(select(func.count()).select_from(Rsvp)), _signatures(app)) == (
            before
        )


@pytest.mark.parametrize(
    "form", ["sign", "resend", "withdraw", "rsvp", "cancel rsvp", "join", "management link"]
)
def test_every_public_form_works_without_a_session_token(
    app: Flask, client: FlaskClient, targets, form: str
):
    """Same-origin, no cookie and no token: the form's own answer (a redirect, the form
    again with its errors, or a 404 for a made-up link), never the CSRF refusal."""
    path, data = targets[form]
    response = client.post(path, data=data)
    assert response.status_code in {200, 303, 404, 422}, (form, response.status_code)
    assert "n’a pas pu être vérifié" not in response.text
    assert "Set-Cookie" not in response.headers


def test_the_console_keeps_its_session_token(app: Flask, client: FlaskClient):
    response = client.post(
        "/console/connexion", data={"email": "a@example.org", "password": "x" * 12}
    )
    assert response.status_code == 400
    assert "n’a pas pu être vérifié" in response.text


def test_the_member_space_keeps_its_session_token(app: Flask, client: FlaskClient):
    response = client.post("/organisations/espace", data={"name": "Pirate"})
    assert response.status_code == 400


# --- the time trap -----------------------------------------------------------------------


@pytest.fixture
def trap(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "FORM_MIN_SECONDS", 2)


def _stamp_taken(seconds_ago: float) -> str:
    """The stamp of a page drawn `seconds_ago`."""
    real = time.time
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() - seconds_ago)
        return forms.time_stamp(SECRET_KEY)


def test_the_page_carries_a_fresh_stamp_that_is_refused_if_sent_at_once(
    app: Flask, client: FlaskClient, slug: str, trap: None
):
    page = client.get(f"/petitions/{slug}").text
    stamp = re.search(r'name="started" type="hidden" value="([^"]+)"', page)
    assert stamp, "no time trap on the page"
    response = client.post(f"/petitions/{slug}", data={**SIGN_FORM, "started": stamp.group(1)})
    # Answered as if signed (a script learns nothing), but nothing is stored.
    assert response.status_code == 303
    assert _signatures(app) == 0


def test_a_form_sent_after_a_few_seconds_is_accepted(
    app: Flask, client: FlaskClient, slug: str, trap: None
):
    stamp = _stamp_taken(10)
    response = client.post(f"/petitions/{slug}", data={**SIGN_FORM, "started": stamp})
    assert response.status_code == 303
    assert _signatures(app) == 1


def test_a_hand_made_post_without_the_stamp_is_dropped(
    app: Flask, client: FlaskClient, slug: str, trap: None
):
    data = {k: v for k, v in SIGN_FORM.items() if k != "started"}
    assert client.post(f"/petitions/{slug}", data=data).status_code == 303
    assert _signatures(app) == 0


def test_a_stamp_signed_with_an_older_key_is_given_the_benefit_of_the_doubt(
    app: Flask, client: FlaskClient, slug: str, trap: None
):
    """The secret key was rotated while the page was open: a person's signature is kept."""
    stamp = forms.time_stamp("the-previous-secret-key")
    assert (
        client.post(f"/petitions/{slug}", data={**SIGN_FORM, "started": stamp}).status_code == 303
    )
    assert _signatures(app) == 1


def test_a_form_shown_again_keeps_its_first_stamp(
    app: Flask, client: FlaskClient, slug: str, trap: None
):
    stamp = _stamp_taken(10)
    again = client.post(f"/petitions/{slug}", data={**SIGN_FORM, "started": stamp, "email": "x"})
    assert again.status_code == 422
    assert f'value="{stamp}"' in again.text


# --- no cookie, nothing per visitor ------------------------------------------------------


def _unstamped(html: str) -> str:
    return re.sub(r'(name="started" type="hidden" value=")[^"]+', r"\1", html)


def _internal_links(html: str) -> set[str]:
    links = set()
    for href in re.findall(r'href="([^"#]+)"', html):
        parts = urlsplit(href)
        if parts.netloc and parts.netloc != urlsplit(PUBLIC_URL).netloc:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path.startswith("/") and not path.startswith(("/static/", "/console")):
            links.add(path.replace("&amp;", "&"))
    return links


def test_no_anonymous_public_page_sets_a_cookie_or_varies_by_it(app: Flask):
    """A walk over every page reachable from the home page and the kit, as a visitor with
    no cookie: none answers with Set-Cookie, none says it varies by Cookie, and two visitors
    get the same bytes."""
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        day = make_day(collective)
        make_rally(day)
        make_member(collective)
        db.session.commit()
        start = ["/", "/kit/", f"/petitions/{petition.slug}", "/rassemblements", "/organisations"]
    first, second = app.test_client(), app.test_client()
    seen: set[str] = set()
    queue = deque(start)
    html_pages = 0
    while queue and len(seen) < 150:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = first.get(path)
        response.close()  # kit files are streamed from disk
        assert "Set-Cookie" not in response.headers, path
        assert "Cookie" not in response.headers.get("Vary", ""), path
        if response.mimetype == "text/html" and response.status_code == 200:
            html_pages += 1
            # Only the time trap's stamp may differ: the second it was drawn, not who by.
            assert _unstamped(second.get(path).text) == _unstamped(response.text), path
            queue.extend(_internal_links(response.text) - seen)
    assert html_pages >= 12, sorted(seen)
    assert {"/", "/kit/", "/rassemblements", "/rejoindre", "/organisations/gerer"} <= seen
