"""Public rally pages: what a rally page says, which rallies are public, the day page, the
iCalendar files read back by a calendar library, the QR code, and signatures that come from
a rally page."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from xml.etree import ElementTree

import pytest
from flask import Flask
from icalendar import Calendar
from sqlalchemy import select
from werkzeug.test import TestResponse

from campaign.extensions import db
from campaign.petition.models import Signature
from campaign.rallies.models import PARIS, RallyStatus, today
from tests.conftest import PUBLIC_URL
from tests.factories import (
    make_collective,
    make_day,
    make_member,
    make_petition,
    make_rally,
    sign_through_form,
)

NBSP = "\u00a0"


def text_of(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def rsvp_form_of(rally_id: int) -> str:
    return f'action="/rassemblements/{rally_id}#participer"'


def new_rally(app: Flask, **kwargs: object) -> int:
    with app.app_context():
        rally = make_rally(**kwargs)  # type: ignore[arg-type]
        db.session.commit()
        return rally.id


def calendar_of(response: TestResponse) -> Calendar:
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.get_data())


# --- the rally page ----------------------------------------------------------------------


def test_the_rally_page_says_when_where_who_and_how_to_get_there(app, client):
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        day = make_day(collective, when=date(2031, 5, 15), title="Journée pour l’école")
        member = make_member(collective, "Parents d’élèves")
        rally = make_rally(
            day,
            organisations=[member],
            venue="Place Bellecour",
            address="Place Bellecour, 69002 Lyon",
            accessibility="Rampe d’accès côté rue de la Charité.",
            directions="Métro A, station Bellecour.",
            contact_name="Camille Martin",
            contact_email="camille@example.org",
        )
        db.session.commit()
        rally_id, slug, organiser = rally.id, petition.slug, member.name

    response = client.get(f"/rassemblements/{rally_id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "Rassemblement de Lyon" in page
    assert f"jeudi 15 mai 2031, 14{NBSP}h{NBSP}30 – 17{NBSP}h" in page
    assert "Place Bellecour<br>Place Bellecour, 69002 Lyon<br>Lyon (69)" in page
    assert organiser in page
    assert "Camille Martin" in page and "mailto:camille@example.org" in page
    assert "Rampe d’accès côté rue de la Charité." in page
    assert "Métro A, station Bellecour." in page
    assert "<strong data-rsvp-count>0</strong> personne inscrite" in page
    assert rsvp_form_of(rally_id) in page

    rally_url = f"{PUBLIC_URL}/rassemblements/{rally_id}"
    assert f'<img src="/rassemblements/{rally_id}/qr.svg"' in page
    assert f'href="/rassemblements/{rally_id}.ics"' in page
    encoded = rally_url.replace(":", "%3A")
    assert f"https://www.facebook.com/sharer/sharer.php?u={encoded}" in page
    assert f"https://www.linkedin.com/sharing/share-offsite/?url={encoded}" in page
    assert f"/petitions/{slug}?rassemblement={rally_id}&source=rassemblement#signer" in page


def test_a_rally_without_venue_or_time_says_they_are_to_be_announced(app, client):
    rally_id = new_rally(app, venue="", address="", start=None, end=None)
    page = text_of(client.get(f"/rassemblements/{rally_id}"))
    assert "Lieu à préciser" in page
    assert ", horaire à préciser" in page
    assert f"{NBSP}h" not in page.split("<dt>Quand</dt>")[1].split("</dd>")[0]


@pytest.mark.parametrize("status", [RallyStatus.PROPOSED, RallyStatus.REFUSED])
def test_a_proposed_or_refused_rally_is_not_public(app, client, status):
    with app.app_context():
        day = make_day()
        hidden = make_rally(day, status=status)
        db.session.commit()
        rally_id, slug = hidden.id, day.slug

    for path in (
        f"/rassemblements/{rally_id}",
        f"/rassemblements/{rally_id}.ics",
        f"/rassemblements/{rally_id}/qr.svg",
        f"/rassemblements/{rally_id}/inscription",
    ):
        assert client.get(path).status_code == 404, path
    assert f"/rassemblements/{rally_id}" not in client.get(f"/mobilisations/{slug}").text
    assert client.get("/rassemblements/carte.json").json == []
    assert calendar_of(client.get(f"/mobilisations/{slug}.ics")).walk("VEVENT") == []


def test_a_cancelled_rally_stays_visible_marked_and_takes_no_registration(app, client):
    with app.app_context():
        rally = make_rally(status=RallyStatus.CANCELLED)
        rally.status_note = "Arrêté préfectoral"
        db.session.commit()
        rally_id = rally.id
    response = client.get(f"/rassemblements/{rally_id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "Ce rassemblement est annulé. Motif : Arrêté préfectoral" in page
    assert "Annulé" in page
    assert rsvp_form_of(rally_id) not in page
    assert "Les inscriptions sont closes pour ce rassemblement." in page


def test_a_past_rally_says_it_took_place(app, client):
    with app.app_context():
        rally = make_rally(make_day(when=today() - timedelta(days=1)))
        db.session.commit()
        rally_id = rally.id
    page = text_of(client.get(f"/rassemblements/{rally_id}"))
    assert "Ce rassemblement a eu lieu." in page
    assert "Passé" in page
    assert rsvp_form_of(rally_id) not in page


@pytest.mark.parametrize("rally_id", ["0", "99999", "99999999999999999999"])
def test_an_unknown_rally_is_a_french_404(app, client, rally_id):
    response = client.get(f"/rassemblements/{rally_id}")
    assert response.status_code == 404
    assert "Page introuvable" in text_of(response)


# --- the day page ---------------------------------------------------------------------------


def test_the_day_page_lists_its_public_rallies_only(app, client):
    with app.app_context():
        day = make_day(title="Journée pour l’école")
        other_day = make_day(day.collective)
        lyon = make_rally(day, "69123")
        marseille = make_rally(day, "13055", status=RallyStatus.CANCELLED)
        toulouse = make_rally(day, "31555", status=RallyStatus.PROPOSED)
        nantes = make_rally(other_day, "44109")
        db.session.commit()
        slug = day.slug
        ids = {r.city: r.id for r in (lyon, marseille, toulouse, nantes)}

    response = client.get(f"/mobilisations/{slug}")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>Journée pour l’école</h1>" in page
    assert f'href="/mobilisations/{slug}.ics"' in page
    listed = re.findall(r'<a href="/rassemblements/(\d+)">([^<]+)</a>', page)
    assert listed == [(str(ids["Lyon"]), "Lyon"), (str(ids["Marseille"]), "Marseille")]
    assert "Annulé" in page  # Marseille is marked


@pytest.mark.parametrize("slug", ["nexiste-pas", "%00", "a" * 1000, "%C3%A9t%C3%A9", "A-B"])
def test_an_unknown_day_is_a_404(app, client, slug):
    assert client.get(f"/mobilisations/{slug}").status_code == 404
    assert client.get(f"/mobilisations/{slug}.ics").status_code == 404


# --- iCalendar ---------------------------------------------------------------------------------


def test_the_rally_calendar_file_reads_back_with_paris_wall_clock_time(app, client):
    with app.app_context():
        member = make_member(make_collective(), "Parents d’élèves")
        rally = make_rally(organisations=[member])
        db.session.commit()
        rally_id, when = rally.id, rally.date

    response = client.get(f"/rassemblements/{rally_id}.ics")
    assert response.headers["Content-Disposition"] == (
        f'inline; filename="rassemblement-{rally_id}.ics"'
    )
    calendar = calendar_of(response)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == "-//campaign//rassemblements//FR"
    [event] = calendar.walk("VEVENT")
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert (start.date(), start.time(), end.time()) == (when, time(14, 30), time(17, 0))
    assert start.astimezone(UTC) == datetime.combine(when, time(14, 30), PARIS).astimezone(UTC)
    # The VTIMEZONE itself says what Europe/Paris means on that date, for calendars that
    # do not know the zone by name.
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Paris"
    written = zone.to_tz(lookup_tzid=False)
    assert start.replace(tzinfo=written).utcoffset() == start.utcoffset()
    url = f"{PUBLIC_URL}/rassemblements/{rally_id}"
    assert str(event["URL"]) == url
    assert url in str(event["DESCRIPTION"])
    assert "Parents d’élèves" in str(event["DESCRIPTION"])
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "Lyon" in str(event["SUMMARY"]) and "Place Bellecour" in str(event["LOCATION"])
    assert str(event["UID"]) == f"rally-{rally_id}@petition.example.org"

    again = client.get(f"/rassemblements/{rally_id}.ics")
    assert again.get_data() == response.get_data()  # same UID and stamp: no duplicate event


def test_a_rally_without_time_is_an_all_day_event(app, client):
    rally_id = new_rally(app, start=None, end=None, venue="")
    [event] = calendar_of(client.get(f"/rassemblements/{rally_id}.ics")).walk("VEVENT")
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert type(start) is date and type(end) is date
    assert end - start == timedelta(days=1)
    assert event["DTSTART"].params.get("VALUE") == "DATE"
    assert "Horaire : à préciser" in str(event["DESCRIPTION"])
    assert "Lieu : à préciser" in str(event["DESCRIPTION"])


def test_the_day_feed_has_one_event_per_public_rally_and_marks_the_cancelled(app, client):
    with app.app_context():
        day = make_day(title="Journée pour l’école")
        lyon = make_rally(day, "69123")
        marseille = make_rally(day, "13055", status=RallyStatus.CANCELLED)
        make_rally(day, "31555", status=RallyStatus.PROPOSED)
        make_rally(day, "33063", status=RallyStatus.REFUSED)
        paris = make_rally(day, "75056", start=None, end=None)
        make_rally(make_day(day.collective), "44109")  # another day
        db.session.commit()
        slug = day.slug
        expected = {
            f"rally-{lyon.id}@petition.example.org": "CONFIRMED",
            f"rally-{marseille.id}@petition.example.org": "CANCELLED",
            f"rally-{paris.id}@petition.example.org": "CONFIRMED",
        }

    response = client.get(f"/mobilisations/{slug}.ics")
    calendar = calendar_of(response)
    assert str(calendar["X-WR-CALNAME"]) == "Journée pour l’école"
    events = calendar.walk("VEVENT")
    assert {str(e["UID"]): str(e["STATUS"]) for e in events} == expected
    assert len(events) == len(expected)
    cancelled = next(e for e in events if str(e["STATUS"]) == "CANCELLED")
    assert str(cancelled["SUMMARY"]).startswith("ANNULÉ")
    for event in events:
        assert str(event["URL"]).startswith(f"{PUBLIC_URL}/rassemblements/")
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    again = calendar_of(client.get(f"/mobilisations/{slug}.ics"))
    assert [str(e["UID"]) for e in again.walk("VEVENT")] == [str(e["UID"]) for e in events]


# --- the QR code -------------------------------------------------------------------------------


def test_the_qr_code_is_an_svg_image_cached_for_a_day(app, client):
    # Decoding it back to the URL needs a raster image and a decoder: left to the kits,
    # which add PNG QR codes.
    rally_id = new_rally(app)
    response = client.get(f"/rassemblements/{rally_id}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.cache_control.max_age == 86400
    root = ElementTree.fromstring(response.get_data())  # noqa: S314 (our own SVG)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    # The longer the URL, the bigger the code: this one is for the rally's public URL.
    other = client.get(f"/rassemblements/{new_rally(app)}/qr.svg")
    assert other.get_data() != response.get_data()


# --- signatures from a rally page --------------------------------------------------------------


def _rally_and_petition(app: Flask, status: RallyStatus = RallyStatus.PUBLISHED) -> tuple:
    with app.app_context():
        collective = make_collective()
        petition = make_petition(collective)
        rally = make_rally(make_day(collective), status=status)
        db.session.commit()
        return rally.id, petition.slug


def _rally_ids(app: Flask) -> list[int | None]:
    with app.app_context():
        return list(db.session.execute(select(Signature.rally_id)).scalars())


def test_the_petition_link_of_a_rally_page_tags_the_signature_with_the_rally(app, client, outbox):
    rally_id, slug = _rally_and_petition(app)
    page = client.get(f"/petitions/{slug}?rassemblement={rally_id}&source=rassemblement")
    assert page.status_code == 200
    assert re.search(rf'name="rassemblement" type="hidden" value="{rally_id}"', page.text)

    response = sign_through_form(client, slug, rassemblement=str(rally_id))

    assert response.status_code == 303
    assert _rally_ids(app) == [rally_id]


@pytest.mark.parametrize(
    "tag", ["abc", "99999999999", "999999", "-1", "1.5", "1e3", " ", "%00", "١٢", "0x1"]
)
def test_an_unknown_or_garbage_rally_tag_is_ignored(app, client, outbox, tag):
    _rally_and_petition(app)
    _, slug = _rally_and_petition(app)
    assert client.get(f"/petitions/{slug}?rassemblement={tag}").status_code == 200

    response = sign_through_form(client, slug, rassemblement=tag)

    assert response.status_code == 303
    assert _rally_ids(app) == [None]


@pytest.mark.parametrize("status", [RallyStatus.PROPOSED, RallyStatus.REFUSED])
def test_a_rally_that_is_not_public_does_not_tag_signatures(app, client, outbox, status):
    rally_id, slug = _rally_and_petition(app, status)
    response = sign_through_form(client, slug, rassemblement=str(rally_id))
    assert response.status_code == 303
    assert _rally_ids(app) == [None]
