"""Rallies in a member organisation's space: it proposes, edits, cancels and runs its
rallies and sees who is coming (the console's organisers publish or refuse them).

Part of the member space: nothing here is cached (core/security.py `no_store`), and each
read of the participants writes one audit entry naming the organisation.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from campaign.content.services import current_collective
from campaign.core.export import csv_response
from campaign.core.pagecache import forget_after_edits
from campaign.core.security import no_store
from campaign.extensions import db
from campaign.organisations import access
from campaign.organisations.models import Organisation
from campaign.places import gazetteer
from campaign.rallies import rsvp, services
from campaign.rallies.forms import RallyForm
from campaign.rallies.models import PARIS, Rally, RallyStatus, Rsvp, RsvpStatus, today

bp = Blueprint("rally_admin", __name__)
no_store(bp)
forget_after_edits(bp)  # its edits show on the public pages at once

PARTICIPANTS_HEADER = ["Nom", "E-mail", "Téléphone", "Statut", "Confirmé le", "Source"]
STATUS_LABELS = {RsvpStatus.CONFIRMED: "confirmé", RsvpStatus.WAITLISTED: "liste d’attente"}


def audit_what(rally: Rally) -> str:
    """How the audit log names a rally whose participants were read."""
    return f"rassemblement {rally.id} {rally.city}"


def participants_csv_response(rally: Rally, people: Sequence[Rsvp]) -> Response:
    """The participants as a CSV for French Excel (the console's download is the same)."""
    return csv_response(
        PARTICIPANTS_HEADER,
        (
            [
                p.name,
                p.email,
                p.phone or "",
                STATUS_LABELS.get(p.status, p.status.value),
                p.confirmed_at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
                if p.confirmed_at
                else "",
                p.source or "",
            ]
            for p in people
        ),
        f"participants-rassemblement-{rally.id}.csv",
    )


def _organisation() -> Organisation:
    organisation = access.managed_organisation()
    if organisation is None:
        abort(403)
    return organisation


def _form(rally: Rally | None = None) -> RallyForm:
    if request.method == "POST":
        form = RallyForm()
    else:
        form = RallyForm(formdata=None, obj=rally)
        if rally is not None:
            form.day.data = str(rally.day_id)
            commune = gazetteer.commune(rally.commune_insee)
            form.place.data = commune.label if commune else rally.city
    collective = current_collective()
    # Coming days only (a past one is over), and the rally's own when editing.
    days = services.days(collective) if collective else []
    keep = rally.day_id if rally is not None else None
    form.set_days([d for d in days if d.date >= today() or d.id == keep])
    return form


def _form_page(form: RallyForm, rally: Rally | None, status: int) -> tuple[str, int]:
    return render_template(
        "rallies/form.html", form=form, rally=rally, collective=current_collective()
    ), status


@bp.route("/organisations/espace/rassemblements/nouveau", methods=["GET", "POST"])
def propose() -> Response | tuple[str, int]:
    organisation = _organisation()
    form = _form()
    if request.method == "POST":
        if not form.validate():
            return _form_page(form, None, 422)
        services.propose(organisation, form.to_input())
        db.session.commit()
        flash("Rassemblement proposé : les organisateurs du collectif vont l’examiner.", "success")
        return redirect(url_for("organisations.member_space.manage"), code=303)
    return _form_page(form, None, 200)


def _managed_rally(rally_id: int) -> tuple[Organisation, Rally]:
    """A rally the signed-in organisation runs, and that organisation; 404 or 403 else."""
    rally = services.get_rally(rally_id)
    if rally is None:
        abort(404)
    organisation = access.managed_organisation()
    if organisation is None or not services.can_manage(organisation, rally):
        abort(403)
    return organisation, rally


@bp.route("/organisations/espace/rassemblements/<int:rally_id>", methods=["GET", "POST"])
def edit(rally_id: int) -> Response | tuple[str, int]:
    _, rally = _managed_rally(rally_id)
    if rally.status in (RallyStatus.REFUSED, RallyStatus.CANCELLED):
        abort(409)
    form = _form(rally)
    if request.method == "POST":
        if not form.validate():
            return _form_page(form, rally, 422)
        services.update_rally(rally, form.to_input())
        # More places (or no limit any more): the waiting list moves up now.
        while rsvp.promote_waiting(rally.id):
            pass
        db.session.commit()
        flash("Modifications enregistrées.", "success")
        return redirect(url_for("rally_admin.edit", rally_id=rally.id), code=303)
    return _form_page(form, rally, 200)


@bp.post("/organisations/espace/rassemblements/<int:rally_id>/annuler")
def cancel(rally_id: int) -> Response:
    organisation, rally = _managed_rally(rally_id)
    reason = request.form.get("reason", "")[:1000].strip()
    if not reason:
        flash("Indiquez le motif de l’annulation : il est envoyé aux participants.", "error")
        return redirect(url_for("rally_admin.participants", rally_id=rally.id), code=303)
    if not services.cancel(rally, organisation.name, reason):
        flash("Seul un rassemblement publié peut être annulé.", "error")
        return redirect(url_for("rally_admin.participants", rally_id=rally.id), code=303)
    db.session.commit()
    flash("Rassemblement annulé : les participants sont prévenus par e-mail.", "success")
    return redirect(url_for("rally_admin.participants", rally_id=rally.id), code=303)


@bp.get("/organisations/espace/rassemblements/<int:rally_id>/participants")
def participants(rally_id: int) -> str:
    organisation, rally = _managed_rally(rally_id)
    people = services.participants(rally)
    page = render_template(
        "rallies/participants.html",
        rally=rally,
        people=people,
        confirmed=sum(p.status is RsvpStatus.CONFIRMED for p in people),
        collective=current_collective(),
    )
    return access.audited(page, organisation, "view.rsvps", audit_what(rally), len(people))


@bp.get("/organisations/espace/rassemblements/<int:rally_id>/participants.csv")
def participants_csv(rally_id: int) -> Response:
    organisation, rally = _managed_rally(rally_id)
    people = services.participants(rally)
    response = participants_csv_response(rally, people)
    return access.audited(
        response, organisation, "export.rsvps.csv", audit_what(rally), len(people)
    )
