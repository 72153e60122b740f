"""What each kit document shows, as plain data, and the key of its cached files.

A document is a template and the values it shows. Its cache key is a digest of those
values and of the kit's design (templates, CSS, fonts): editing a rally's time changes
its poster's key and its day's flyer's, and no other document's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape  # nosec B406  # escapes our output; parses no XML

from flask import current_app

from campaign.content.models import Collective
from campaign.core import colour
from campaign.core.templating import clock, long_date
from campaign.core.urls import public_url_for
from campaign.kits import qr
from campaign.kits.assets import design_version
from campaign.organisations.models import Organisation
from campaign.organisations.services import logo_folder
from campaign.petition.models import Petition
from campaign.places.gazetteer import fold
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus

SOCIAL_SIZES = {"1200x630": ("wide", 1200), "1080x1080": ("square", 1080)}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")[:60] or "x"


@dataclass(frozen=True)
class Document:
    template: str
    filename: str  # as downloaded, without extension
    content: dict[str, Any]  # every value the template shows (JSON-able)
    images: Callable[[], dict[str, bytes]] = field(compare=False)  # made only when rendering

    @property
    def key(self) -> str:
        payload = json.dumps(
            [self.template, self.content, design_version()],
            sort_keys=True,
            default=str,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _site() -> str:
    return urlsplit(current_app.config["PUBLIC_URL"]).netloc


def _collective(collective: Collective) -> dict[str, Any]:
    return {
        "name": collective.name,
        "tagline": collective.tagline,
        "coordinator": collective.coordinator,
        # Every document shows these two (kits/templates/_base.html, masthead, social).
        # A new logo has a new random file name, so the name is enough for the key.
        "logo_image": collective.logo if _collective_logo(collective) else None,
        "brand_colour": colour.safe(collective.brand_colour),
    }


def _collective_logo(collective: Collective) -> bytes | None:
    path = logo_folder() / collective.logo if collective.logo else None
    return path.read_bytes() if path is not None and path.is_file() else None


def _demands(source: Collective | Petition) -> list[dict[str, str]]:
    """A petition's demands in its own order, or all the collective's."""
    return [{"title": d.title, "text": d.text} for d in source.demands]


def _petition(petition: Petition) -> dict[str, Any]:
    return {"title": petition.title, "call_to_action": petition.call_to_action}


def wordmark_svg(name: str) -> bytes:
    """The collective's name set as a logo (the content gives no logo file)."""
    width = max(60, 9 * len(name))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 24" width="{width * 2}"'
        f' height="48"><rect x="1" y="1" width="{width - 2}" height="22" fill="#fff"'
        f' stroke="#111" stroke-width="2"/><text x="{width / 2}" y="17" font-size="14"'
        f' font-family="Source Sans 3, sans-serif" font-weight="900" text-anchor="middle">'
        f"{escape(name)}</text></svg>"
    ).encode()


def collective_images(collective: Collective) -> dict[str, bytes]:
    """The collective's wordmark and logo, for a masthead (kits/templates/_macros.html)."""
    images = {"wordmark.svg": wordmark_svg(collective.name)}
    if logo := _collective_logo(collective):
        images["collective-logo.png"] = logo
    return images


def _images(collective: Collective, qr_url: str, logo_file: str | None = None) -> dict[str, bytes]:
    images = {"qr.svg": qr.qr_svg(qr_url, caption=False), **collective_images(collective)}
    if logo_file:
        path = logo_folder() / logo_file
        if path.is_file():
            images["logo.png"] = path.read_bytes()
    return images


# --- QR targets: every URL from PUBLIC_URL, tagged with where the print came from ----------


def petition_qr_url(petition: Petition, source: str = "qr-tract-appel", **tags: str) -> str:
    # A relayed petition is signed elsewhere: its prints go through the redirect that
    # counts each scan (per source, organisation, rally) before sending the reader on.
    endpoint = "petition.relay_to_official" if petition.is_relayed else "petition.show"
    return public_url_for(endpoint, slug=petition.slug, source=source, **tags)


def rally_qr_url(rally: Rally) -> str:
    return public_url_for(
        # Source tags hold 64 characters: the city is cut so the id always fits.
        "rallies.show",
        rally_id=rally.id,
        source=f"qr-affiche-{slug(rally.city)[:40]}-{rally.id}",
    )


def day_qr_url(day: MobilisationDay) -> str:
    return public_url_for("rallies.finder_page", source=f"qr-tract-{day.slug}"[:64])


def member_qr_url(organisation: Organisation, petition: Petition) -> str:
    return petition_qr_url(
        petition, source=f"qr-tract-{organisation.referral_code}", org=organisation.referral_code
    )


# --- documents ------------------------------------------------------------------------------


def call_flyer(collective: Collective, petition: Petition) -> Document:
    url = petition_qr_url(petition)
    content = {
        "collective": _collective(collective),
        "petition": _petition(petition),
        "demands": _demands(petition),
        "figures": [
            {"value": f.value, "label": f.label, "source": f.source} for f in collective.key_figures
        ],
        "qr_url": url,
        "site": _site(),
    }
    return Document("call_flyer.html", "tract-appel-a5", content, lambda: _images(collective, url))


def _rally(rally: Rally) -> dict[str, Any]:
    return {
        "city": rally.city,
        "departement": rally.departement,
        "date": rally.date,
        "start_time": rally.start_time,
        "end_time": rally.end_time,
        "venue": rally.venue,
        "address": rally.address,
        "organisers": [o.name for o in rally.organisations],
        "cancelled": rally.status is RallyStatus.CANCELLED,
    }


def rally_poster(rally: Rally) -> Document:
    collective = rally.day.collective
    url = rally_qr_url(rally)
    content = {
        "collective": _collective(collective),
        "demands": _demands(collective),
        "day_title": rally.day.title,
        "rally": _rally(rally),
        "qr_url": url,
        "site": _site(),
    }
    return Document(
        "rally_poster.html",
        f"affiche-{slug(rally.city)}-{rally.date:%Y-%m-%d}-a4",
        content,
        lambda: _images(collective, url),
    )


def day_flyer(day: MobilisationDay, rallies: list[Rally]) -> Document:
    url = day_qr_url(day)
    content = {
        "collective": _collective(day.collective),
        "day": {"title": day.title, "date": day.date, "presentation": day.presentation},
        "rallies": [_rally(r) for r in rallies],
        "qr_url": url,
        "site": _site(),
    }
    return Document(
        "day_flyer.html",
        f"tract-{day.slug}-a4",
        content,
        lambda: _images(day.collective, url),
    )


def member_flyer(organisation: Organisation, petition: Petition) -> Document:
    collective = organisation.collective
    url = member_qr_url(organisation, petition)
    content = {
        "collective": _collective(collective),
        "organisation": {"name": organisation.name, "logo": organisation.logo_filename},
        "petition": _petition(petition),
        "demands": _demands(petition),
        "qr_url": url,
        "site": _site(),
    }
    return Document(
        "member_flyer.html",
        f"tract-{slug(organisation.name)}-a5",
        content,
        lambda: _images(collective, url, organisation.logo_filename),
    )


def social(
    collective: Collective, size: str, kicker: str, title: str, lead: str, name: str
) -> Document:
    shape, _ = SOCIAL_SIZES[size]
    content = {
        "collective": _collective(collective),
        "shape": shape,
        "kicker": kicker,
        "title": title,
        "lead": lead,
        "site": _site(),
    }
    return Document("social.html", f"{name}-{size}", content, lambda: collective_images(collective))


def petition_social(petition: Petition, size: str) -> Document:
    return social(
        petition.collective,
        size,
        "Pétition",
        petition.title,
        petition.call_to_action,
        f"partage-{petition.slug}",
    )


def rally_social(rally: Rally, size: str) -> Document:
    when = _when_text(rally.date, rally.start_time)
    cancelled = rally.status is RallyStatus.CANCELLED  # said, as on the poster
    return social(
        rally.day.collective,
        size,
        f"{rally.day.title} — annulé" if cancelled else rally.day.title,
        f"Rassemblement à {rally.city}",
        f"{when} · {rally.venue or 'lieu à préciser'}",
        f"partage-{slug(rally.city)}-{rally.id}",
    )


def _when_text(day: date, start: time | None) -> str:
    return f"{long_date(day)}, {clock(start)}" if start else long_date(day)
