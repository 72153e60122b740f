"""The member space: a member organisation opens it through a one-use emailed link and
edits its presentation and logo there (its rallies: rallies/manage_views.py).

A blueprint of its own, nested in the organisations' one (endpoints
`organisations.member_space.…`), so that nothing it answers is cached (core/security.py
`no_store`) while the public pages beside it keep their caching.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from campaign.core.forms import EmailForm
from campaign.core.pagecache import forget_after_edits
from campaign.core.security import no_store
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.organisations import access, services
from campaign.organisations.forms import ManageForm
from campaign.organisations.models import Organisation
from campaign.petition import services as petition_services
from campaign.petition.models import Petition
from campaign.rallies import services as rally_services
from campaign.rallies.models import today

bp = Blueprint("member_space", __name__)
no_store(bp)
forget_after_edits(bp)  # its edits show on the public pages at once


def referral_links(organisation: Organisation) -> list[tuple[Petition, str]]:
    """Each open petition with the organisation's link to it (here and on its public page)."""
    return [
        (p, public_url_for("petition.show", slug=p.slug, org=organisation.referral_code))
        for p in petition_services.public_petitions()
        if p.is_open()
    ]


@bp.route("/organisations/gerer/<token>", methods=["GET", "POST"])
def manage_link(token: str) -> Response | tuple[str, int]:
    """GET only asks (a mail scanner must not spend the one-use link); POST opens the space."""
    if request.method == "GET":
        return render_template("organisations/manage_link.html", token=token), 200
    organisation = services.use_manage_link(token)
    db.session.commit()
    if organisation is None:
        form = EmailForm(formdata=None)
        return render_template("organisations/request_link.html", form=form, spent=True), 410
    access.open_management(organisation)
    return redirect(url_for(".manage"), code=303)


@bp.route("/organisations/espace", methods=["GET", "POST"])
def manage() -> Response | tuple[str, int]:
    organisation = access.managed_organisation()
    if organisation is None:
        return redirect(url_for("organisations.request_manage_link"))
    form = ManageForm(obj=organisation if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            services.update_profile(organisation, form.presentation.data, form.logo_png)
            db.session.commit()
            flash("Modifications enregistrées.", "success")
            return redirect(url_for(".manage"), code=303)
        status = 422
    rallies = rally_services.rallies_of(organisation)
    return render_template(
        "organisations/manage.html",
        organisation=organisation,
        collective=organisation.collective,
        form=form,
        brought=services.signatures_brought(organisation.id),
        referral_links=referral_links(organisation),
        rallies=rallies,
        counts=rally_services.confirmed_counts([r.id for r in rallies]),
        today=today(),
    ), status
