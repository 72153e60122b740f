"""Test data, built through the models (each factory flushes; the caller commits)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from urllib.parse import urlsplit

from flask_mail import Message

from campaign.content.models import Collective, Demand, KeyFigure
from campaign.extensions import db
from campaign.petition.models import Petition, PetitionStatus

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


def path_of(url: str) -> str:
    return urlsplit(url).path


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SIGN_FORM = {
    "first_name": "Jeanne",
    "last_name": "Dupont",
    "email": "jeanne@example.org",
    "country": "FR",
    "postcode": "75011",
    "consent": "y",
}


def csrf_from(page_html: str) -> str:
    """The CSRF token of the form on a page."""
    match = CSRF_INPUT.search(page_html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_through_form(client, slug: str, **fields: str):  # type: ignore[no-untyped-def]
    """Open the petition page and post its form as a person would (fields override)."""
    token = csrf_from(client.get(f"/petitions/{slug}").text)
    return client.post(f"/petitions/{slug}", data={**SIGN_FORM, "csrf_token": token, **fields})
