"""The public « Kit de communication » page and its downloads."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, g, render_template, send_file

from campaign.content.services import current_collective
from campaign.core import pagecache
from campaign.kits import services
from campaign.kits.documents import (
    SOCIAL_SIZES,
    Document,
    call_flyer,
    day_flyer,
    member_flyer,
    petition_social,
    rally_poster,
    rally_social,
)
from campaign.kits.fastpath import FILE_HEADER
from campaign.organisations import access
from campaign.organisations.models import Organisation
from campaign.petition import services as petition_services
from campaign.petition.models import Petition
from campaign.rallies import services as rally_services
from campaign.rallies.models import MobilisationDay, Rally, today

bp = Blueprint("kits", __name__, url_prefix="/kit")
pagecache.page(r"/kit/")

# Cached files never change under a name: a new content is a new file. The URLs stay the
# same, so browsers and proxies revalidate (ETag) instead of keeping a stale flyer.
_MIME = {
    "pdf": "application/pdf",
    "png": "image/png",
    "svg": "image/svg+xml",
    "zip": "application/zip",
}


def _send(path: Path, download_name: str, inline: bool = False) -> Response:
    extension = path.suffix.lstrip(".")
    response = send_file(
        path,
        mimetype=_MIME[extension],
        as_attachment=not inline,
        download_name=download_name,
        conditional=True,
        etag=True,
        max_age=0,
    )
    response.cache_control.no_cache = True  # revalidate: the content may have changed
    if g.get("kit_private"):
        response.cache_control.private = True  # an unlisted member's, for itself only
    else:
        response.cache_control.public = True
        response.headers[FILE_HEADER] = str(path)  # for fastpath.py, which strips it
    return response


def _petition_or_404() -> Petition:
    petition = services.kit_petition()
    if petition is None:
        abort(404)
    return petition


def _kit_petition_or_404(slug: str) -> Petition:
    petition = next((p for p in services.kit_petitions() if p.slug == slug), None)
    if petition is None:
        abort(404)
    return petition


def _rally_or_404(rally_id: int) -> Rally:
    rally = services.kit_rally(rally_id)
    if rally is None:
        abort(404)
    return rally


def _day_or_404(slug: str) -> MobilisationDay:
    day = rally_services.get_day(slug)
    if day is None or day.date < today():
        abort(404)
    return day


def _member_or_404(organisation_id: int) -> Organisation:
    """A member listed in the directory; an unlisted one only for itself (signed in)."""
    organisation = services.kit_member(organisation_id)
    if organisation is None:
        abort(404)
    if not organisation.listed:
        managed = access.managed_organisation()
        if managed is None or managed.id != organisation.id:
            abort(404)
        g.kit_private = True
    return organisation


def _document(kind: str, ident: str) -> Document:
    """The printable document behind a URL: the call, a rally, a day or a member's flyer."""
    if kind == "appel":  # the kit's petition, or any open or upcoming one by its slug
        petition = _petition_or_404() if not ident else _kit_petition_or_404(ident)
        return call_flyer(petition.collective, petition)
    if kind == "rassemblements" and ident.isdigit():
        return rally_poster(_rally_or_404(int(ident)))
    if kind == "journees":
        day = _day_or_404(ident)
        return day_flyer(day, rally_services.visible_rallies(day))
    if kind == "organisations" and ident.isdigit():
        return member_flyer(_member_or_404(int(ident)), _petition_or_404())
    abort(404)


@bp.get("/")
def page() -> str:
    petition = services.kit_petition()
    return render_template(
        "kits/page.html",
        collective=current_collective(),
        petition=petition,
        others=[p for p in services.kit_petitions() if petition is None or p.id != petition.id],
        days=services.kit_days(),
        rallies=services.kit_rallies(),
        members=services.kit_members() if petition else [],
        sizes=list(SOCIAL_SIZES),
    )


@bp.get("/<kind>/<ident>.pdf")
@bp.get("/<kind>.pdf", defaults={"ident": ""})
def pdf(kind: str, ident: str) -> Response:
    document = _document(kind, ident)
    return _send(services.pdf_file(document), f"{document.filename}.pdf")


@bp.get("/<kind>/<ident>/apercu.png")
@bp.get("/<kind>/apercu.png", defaults={"ident": ""})
def preview(kind: str, ident: str) -> Response:
    document = _document(kind, ident)
    return _send(services.preview_file(document), f"{document.filename}.png", inline=True)


def _qr_url(kind: str, ident: str) -> str:
    """Every printable document carries the URL of its QR code."""
    return _document(kind, ident).content["qr_url"]


@bp.get("/<kind>/<ident>/qr.<any(svg, png):fmt>")
@bp.get("/<kind>/qr.<any(svg, png):fmt>", defaults={"ident": ""})
def qr_code(kind: str, ident: str, fmt: str) -> Response:
    name = f"qr-{kind}{'-' + ident if ident else ''}.{fmt}"
    return _send(services.qr_file(_qr_url(kind, ident), fmt), name, inline=True)


@bp.get("/<kind>/<ident>/partage-<any(1200x630, 1080x1080):size>.png")
def social(kind: str, ident: str, size: str) -> Response:
    if kind == "petitions" and (petition := petition_services.get_petition(ident)):
        document = petition_social(petition, size)
    elif kind == "rassemblements" and ident.isdigit():
        document = rally_social(_rally_or_404(int(ident)), size)
    else:
        abort(404)
    return _send(services.social_file(document, size), f"{document.filename}.png", inline=True)


@bp.get("/rassemblements/<int:rally_id>.zip")
def rally_zip(rally_id: int) -> Response:
    rally = _rally_or_404(rally_id)
    return _send(services.rally_zip(rally), f"kit-rassemblement-{rally.id}.zip")


@bp.get("/organisations/<int:organisation_id>.zip")
def member_zip(organisation_id: int) -> Response:
    organisation = _member_or_404(organisation_id)
    return _send(
        services.member_zip(organisation, _petition_or_404()),
        f"kit-organisation-{organisation.id}.zip",
    )
