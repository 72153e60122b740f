"""Test data, built through the models (each factory flushes; the caller commits)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit

from flask import Flask
from flask_mail import Message
from sqlalchemy import func, select

from campaign.content.models import Collective, Demand, KeyFigure
from campaign.core import outbox
from campaign.core.forms import time_stamp
from campaign.core.mail import hand_over_due
from campaign.core.outbox import OutboxMessage
from campaign.core.queue import huey
from campaign.extensions import db
from campaign.organisations.models import Organisation, OrganisationKind, OrganisationStatus
from campaign.petition.models import Petition, PetitionStatus
from campaign.places import gazetteer
from campaign.rallies import services as rally_services
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus, today
from campaign.rallies.services import RallyInput

_seq = itertools.count(1)
CONFIRM_LINK = re.compile(r"https?://\S+/signature/confirmer/[A-Za-z0-9_-]+")


def make_collective(name: str = "Collectif d’essai") -> Collective:
    collective = Collective(
        slug=f"collectif-{next(_seq)}",
        name=name,
        tagline="Une phrase d’accroche",
        presentation="Premier paragraphe.\n\nSecond paragraphe.",
        coordinator="Coordination d’essai",
    )
    collective.demands = [
        Demand(position=i, title=f"Revendication {i}", text=f"Texte de la revendication {i}.")
        for i in range(1, 5)
    ]
    collective.key_figures = [
        KeyFigure(position=1, value="12", label="rapports", source="Document d’essai, p. 3")
    ]
    db.session.add(collective)
    db.session.flush()
    return collective


def make_petition(
    collective: Collective | None = None,
    *,
    slug: str | None = None,
    status: PetitionStatus = PetitionStatus.OPEN,
    target: int = 1000,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
) -> Petition:
    collective = collective or make_collective()
    petition = Petition(
        collective=collective,
        slug=slug or f"petition-{next(_seq)}",
        title="Pétition d’essai",
        addressee="Les pouvoirs publics",
        summary="Résumé de la pétition.",
        text="Premier paragraphe de la pétition.\n\nSecond paragraphe.",
        target=target,
        status=status,
        opens_at=opens_at,
        closes_at=closes_at,
        demands=list(collective.demands),
    )
    db.session.add(petition)
    db.session.flush()
    return petition


def confirmation_link(message: Message) -> str:
    """The confirmation URL in an email's text part."""
    match = CONFIRM_LINK.search(message.body)
    assert match, f"no confirmation link in: {message.body!r}"
    return match.group(0)


def comparable(response) -> tuple:  # type: ignore[no-untyped-def]
    """All a client sees of an answer: status, headers and body, but the request's own
    random id (X-Request-ID), which says nothing of what was sent."""
    headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")
    return response.status_code, headers, response.get_data()


def layer(app: Flask, kind: type) -> object:
    """The WSGI layer of class `kind` in front of the Flask app."""
    current = app.wsgi_app
    while not isinstance(current, kind):
        current = current.wsgi_app  # type: ignore[attr-defined]
    return current


def path_of(url: str) -> str:
    return urlsplit(url).path


SECRET_KEY = "test-secret-key-not-for-production"
# What a public form's page carries for its time trap (FORM_MIN_SECONDS is 0 in tests).
FORM_STAMP = time_stamp(SECRET_KEY)
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SIGN_FORM = {
    "started": FORM_STAMP,
    "first_name": "Jeanne",
    "last_name": "Dupont",
    "email": "jeanne@example.org",
    "country": "FR",
    "postcode": "75011",
    "consent": "y",
}


def notice_due() -> None:
    """The process's next signing sends its NOTIFY whenever the last one was (see
    core/outbox._NoticeThrottle): statements then differ by what is posted, not the clock."""
    outbox._notices = outbox._NoticeThrottle()


def csrf_from(page_html: str) -> str:
    """The CSRF token of the form on a page (the console's, the member space's); "" for a
    public form, which has none (its origin is checked instead)."""
    match = CSRF_INPUT.search(page_html)
    return match.group(1) if match else ""


STAMP_INPUT = re.compile(r'name="started" type="hidden" value="([^"]+)"')


def stamp_from(page_html: str) -> str:
    """The time trap's stamp of the public form on a page."""
    match = STAMP_INPUT.search(page_html)
    assert match, "no time stamp on the page"
    return match.group(1)


def sign_through_form(client, slug: str, **fields: str):  # type: ignore[no-untyped-def]
    """Open the petition page and post its form as a person would (fields override)."""
    stamp = stamp_from(client.get(f"/petitions/{slug}").text)
    return client.post(f"/petitions/{slug}", data={**SIGN_FORM, "started": stamp, **fields})


def make_member(collective: Collective, name: str = "Enfance Ensemble") -> Organisation:
    """An approved member organisation (the application flow is tested elsewhere)."""
    n = next(_seq)
    organisation = Organisation(
        collective=collective,
        name=f"{name} {n}",
        name_key=f"{name.lower()} {n}",
        kind=OrganisationKind.ASSOCIATION,
        departement="69",
        contact_name="Camille Martin",
        contact_email=f"contact{n}@example.org",
        listed=True,
        shares_demands_at=datetime.now(UTC),
        status=OrganisationStatus.APPROVED,
        referral_code=f"ref{n}",
        token_nonce=f"{n:032x}",
    )
    db.session.add(organisation)
    db.session.flush()
    return organisation


def make_day(
    collective: Collective | None = None, *, when: date | None = None, title: str = ""
) -> MobilisationDay:
    collective = collective or make_collective()
    when = when or today() + timedelta(days=30)
    day = MobilisationDay(
        collective=collective,
        slug=f"journee-{next(_seq)}",
        title=title or f"Journée du {when:%d/%m/%Y}",
        date=when,
        presentation="Journée nationale d’essai.",
    )
    db.session.add(day)
    db.session.flush()
    return day


def make_rally(
    day: MobilisationDay | None = None,
    commune: str = "69123",  # Lyon
    *,
    when: date | None = None,
    status: RallyStatus = RallyStatus.PUBLISHED,
    start: time | None = time(14, 30),
    end: time | None = time(17, 0),
    capacity: int | None = None,
    organisations: list[Organisation] | None = None,
    lat: float | None = None,
    lon: float | None = None,
    **fields: object,
) -> Rally:
    """A rally in a commune (INSEE code) of the real gazetteer, at its centre by default."""
    day = day or make_day()
    place = gazetteer.commune(commune)
    assert place is not None, commune
    rally = rally_services.create_rally(
        RallyInput(
            day_id=day.id,
            commune=place,
            date=when or day.date,
            venue=str(fields.pop("venue", "Place Bellecour")),
            address=str(fields.pop("address", "Place Bellecour, 69002 Lyon")),
            start_time=start,
            end_time=end,
            capacity=capacity,
            latitude=lat,
            longitude=lon,
            **fields,  # type: ignore[arg-type]
        ),
        status,
        organisations,
    )
    return rally


RSVP_LINK = re.compile(r"https?://\S+/rassemblements/venue/[A-Za-z0-9_-]+")
RSVP_FORM = {
    "started": FORM_STAMP,
    "name": "Jeanne Dupont",
    "email": "jeanne@example.org",
    "consent": "y",
}


def rsvp_link(message: Message) -> str:
    """The RSVP confirmation URL in an email's text part."""
    match = RSVP_LINK.search(message.body)
    assert match, f"no RSVP link in: {message.body!r}"
    return match.group(0)


def rsvp_through_form(client, rally_id: int, **fields: str):  # type: ignore[no-untyped-def]
    """Open the rally page and post its « J'y serai » form (fields override)."""
    stamp = stamp_from(client.get(f"/rassemblements/{rally_id}").text)
    return client.post(
        f"/rassemblements/{rally_id}", data={**RSVP_FORM, "started": stamp, **fields}
    )


def run_worker(app: Flask) -> int:
    """What `flask worker` does, once: the relay hands the due outbox rows to the queue, the
    queue runs their mail jobs (for tests that keep the queue durable). Returns the jobs run."""
    with app.app_context():  # as the worker: an app context, no request
        hand_over_due()
        ran = 0
        while huey.pending_count():
            huey.execute(huey.dequeue())
            ran += 1
    return ran


def outbox_rows(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(OutboxMessage.id))).scalar_one()
