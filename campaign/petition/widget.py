"""The signing widget: a petition's form for member organisations' own sites, in a frame.

`/petitions/<slug>/widget` shows the title, the count and progress, the demands folded,
and the form; it posts to itself and thanks inside the frame. It needs no cookie (so it
works with third-party cookies blocked) and loads nothing from elsewhere; its pages, and
no other page of the site, may be framed by any site. `static/js/widget.js` tells the
host page its height; `static/js/embed.js`, on the host page, resizes the frame.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, url_for

from campaign.core import pagecache, security
from campaign.core.db import retry_on_dropped_connection
from campaign.core.urls import public_url_for
from campaign.petition.forms import SignForm
from campaign.petition.models import Petition
from campaign.petition.views import (
    petition_or_404,
    signing_context,
    signing_endpoint,
    tags_of_link,
    take_signing,
)

bp = Blueprint("widget", __name__)
security.public_forms(bp)
security.framable(bp)
pagecache.page(r"/petitions/[^/]+/widget", params=SignForm.tag_fields)


def _widget(petition: Petition, form: SignForm, status: int) -> tuple[str, int]:
    return render_template("petition/widget.html", **signing_context(petition, form)), status


@bp.get("/petitions/<slug>/widget")
@retry_on_dropped_connection
def show(slug: str) -> tuple[str, int]:
    return _widget(petition_or_404(slug), SignForm(formdata=None, data=tags_of_link()), 200)


@bp.post("/petitions/<slug>/widget")
@signing_endpoint
def sign(slug: str) -> Response | tuple[str, int]:
    return take_signing(slug, _widget, url_for("widget.thanks", slug=slug))


@bp.get("/petitions/<slug>/widget/merci")
def thanks(slug: str) -> str:
    petition = petition_or_404(slug)
    return render_template("petition/widget_thanks.html", petition=petition)


@bp.app_template_global("widget_code")
def snippet(slug: str, referral_code: str | None = None) -> str:
    """What a member pastes in its site: the frame (with its referral code, so that the
    signatures are credited to it) and the small script that fits its height."""
    src = public_url_for("widget.show", slug=slug, org=referral_code)
    script = public_url_for("static", filename="js/embed.js")
    return (
        f'<iframe src="{src}" title="Signer la pétition" data-campaign-widget '
        'style="width:100%;max-width:32rem;border:0" height="760" loading="lazy"></iframe>\n'
        f'<script src="{script}" async></script>'
    )
