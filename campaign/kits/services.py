"""The kit's files: PDFs, previews, social images, QR codes and ZIPs, each built once."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from campaign.content.models import Collective
from campaign.extensions import db
from campaign.kits import cache, qr, render
from campaign.kits.assets import design_version
from campaign.kits.documents import (
    SOCIAL_SIZES,
    Document,
    call_flyer,
    day_flyer,
    day_qr_url,
    member_flyer,
    member_qr_url,
    petition_qr_url,
    petition_social,
    rally_poster,
    rally_qr_url,
    rally_social,
    slug,
)
from campaign.organisations.models import Organisation, OrganisationStatus
from campaign.petition import services as petition_services
from campaign.petition.models import Petition
from campaign.rallies import services as rally_services
from campaign.rallies.models import MobilisationDay, Rally, today

PREVIEW_WIDTH = 420  # px: a thumbnail on the kit page


def pdf_file(document: Document) -> Path:
    return cache.get_or_build(
        f"{document.key}.pdf",
        lambda: render.pdf(document.template, document.images(), **document.content),
    )


def preview_file(document: Document) -> Path:
    """The first page as a PNG thumbnail."""
    return cache.get_or_build(
        f"{document.key}.preview.png",
        lambda: render.png_pages(pdf_file(document).read_bytes(), PREVIEW_WIDTH)[0],
    )


def social_file(document: Document, size: str) -> Path:
    """A social image: a one-page document the size of the image, rasterised."""
    width = SOCIAL_SIZES[size][1]
    return cache.get_or_build(
        f"{document.key}.png",
        lambda: render.png_pages(
            render.pdf(document.template, document.images(), **document.content), width
        )[0],
    )


def qr_file(url: str, fmt: str) -> Path:
    key = hashlib.sha256(f"{url}|{design_version()}".encode()).hexdigest()[:32]
    build = (lambda: qr.qr_svg(url)) if fmt == "svg" else (lambda: qr.qr_png(url))
    return cache.get_or_build(f"qr-{key}.{fmt}", build)


# --- what the kit covers ----------------------------------------------------------------


def kit_petition() -> Petition | None:
    """The petition the kit promotes: the first open one."""
    return next((p for p in petition_services.public_petitions() if p.is_open()), None)


def kit_petitions() -> list[Petition]:
    """Every petition with a kit of its own: open or still to open."""
    return [p for p in petition_services.public_petitions() if p.phase() != "closed"]


def kit_rallies() -> list[Rally]:
    """Rallies to print for: published and still to come."""
    now = today()
    return [r for r in rally_services.visible_rallies() if r.date >= now]


def kit_days() -> list[tuple[MobilisationDay, list[Rally]]]:
    now = today()
    days = db.session.execute(
        select(MobilisationDay).where(MobilisationDay.date >= now).order_by(MobilisationDay.date)
    ).scalars()
    return [(day, rally_services.visible_rallies(day)) for day in days]


def kit_members() -> list[Organisation]:
    return list(
        db.session.execute(
            select(Organisation)
            .where(Organisation.status == OrganisationStatus.APPROVED)
            .order_by(Organisation.name)
        ).scalars()
    )


def kit_rally(rally_id: int) -> Rally | None:
    rally = rally_services.visible_rally(rally_id)
    return rally if rally is not None and rally.date >= today() else None


def kit_member(organisation_id: int) -> Organisation | None:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or organisation.status is not OrganisationStatus.APPROVED:
        return None
    return organisation


# --- ZIPs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    what: str  # said in the README
    path: Path


def _zip(title: str, url: str, entries: list[Entry]) -> Path:
    key = hashlib.sha256(
        "|".join([title, url, *(f"{e.name}={e.path.name}" for e in entries)]).encode()
    ).hexdigest()[:32]

    def build() -> bytes:
        readme = render.html_of(
            "LISEZMOI.txt", title=title, url=url, files=[(e.name, e.what) for e in entries]
        )
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("LISEZMOI.txt", readme)
            for entry in entries:
                archive.write(entry.path, entry.name)
        return out.getvalue()

    return cache.get_or_build(f"zip-{key}.zip", build)


def _socials(make: object, name: str) -> list[Entry]:
    return [
        Entry(
            f"{name}-{size}.png",
            "image pour un lien partagé" if size == "1200x630" else "image pour une publication",
            social_file(make(size), size),  # type: ignore[operator]
        )
        for size in SOCIAL_SIZES
    ]


def rally_zip(rally: Rally) -> Path:
    poster = rally_poster(rally)
    url = rally_qr_url(rally)
    entries = [
        Entry(f"{poster.filename}.pdf", "l’affiche A4 du rassemblement", pdf_file(poster)),
        Entry("qr-rassemblement.svg", "le QR code de sa page", qr_file(url, "svg")),
        Entry("qr-rassemblement.png", "le même QR code en PNG (300 dpi)", qr_file(url, "png")),
        *_socials(lambda size: rally_social(rally, size), f"partage-{slug(rally.city)}"),
    ]
    petition = kit_petition()
    if petition is not None:
        flyer = call_flyer(rally.day.collective, petition)
        entries.append(
            Entry(f"{flyer.filename}.pdf", "le tract A5 de l’appel, à distribuer", pdf_file(flyer))
        )
    return _zip(f"Kit du rassemblement de {rally.city}", url, entries)


def member_zip(organisation: Organisation, petition: Petition) -> Path:
    flyer = member_flyer(organisation, petition)
    url = member_qr_url(organisation, petition)
    entries = [
        Entry(f"{flyer.filename}.pdf", "le tract A5 à vos couleurs", pdf_file(flyer)),
        Entry("qr-parrainage.svg", "votre QR code de parrainage", qr_file(url, "svg")),
        Entry("qr-parrainage.png", "le même QR code en PNG (300 dpi)", qr_file(url, "png")),
    ]
    return _zip(f"Kit de {organisation.name}", url, entries)


def prebuild(collective: Collective) -> int:
    """Render every current kit file now (after a deploy, before a mobilisation day)."""
    built = 0
    petition = kit_petition()
    if petition is not None:
        flyer = call_flyer(collective, petition)
        pdf_file(flyer), preview_file(flyer)
        qr_file(petition_qr_url(petition), "svg"), qr_file(petition_qr_url(petition), "png")
        for size in SOCIAL_SIZES:
            social_file(petition_social(petition, size), size)
        built += 1
        for organisation in kit_members():
            member_zip(organisation, petition)
            preview_file(member_flyer(organisation, petition))
            built += 1
    for day, rallies in kit_days():
        preview_file(day_flyer(day, rallies))
        qr_file(day_qr_url(day), "svg"), qr_file(day_qr_url(day), "png")
        built += 1
    for rally in kit_rallies():
        rally_zip(rally)
        preview_file(rally_poster(rally))
        built += 1
    return built
