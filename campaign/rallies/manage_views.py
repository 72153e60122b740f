"""Rallies behind a sign-in: member organisations propose and run theirs; the collective's
moderators publish, refuse and cancel, and both see who is coming."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from campaign.console import decisions
from campaign.content.services import current_collective
from campaign.core.export import csv_response
from campaign.extensions import db
from campaign.organisations import access
from campaign.organisations.models import Organisation
from campaign.places import gazetteer
from campaign.rallies import rsvp, services
from campaign.rallies.forms import RallyForm
from campaign.rallies.models import PARIS, Rally, RallyStatus, RsvpStatus, today

bp = Blueprint("rally_admin", __name__)


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
        return redirect(url_for("organisations.manage"), code=303)
    return _form_page(form, None, 200)


def _managed_rally(rally_id: int) -> Rally:
    """A rally the signed-in organisation runs, or any rally for a moderator."""
    rally = services.get_rally(rally_id)
    if rally is None:
        abort(404)
    if services.can_manage(access.managed_organisation(), rally):
        return rally
    access.current_moderator()  # 403 unless a moderator
    return rally


@bp.route("/organisations/espace/rassemblements/<int:rally_id>", methods=["GET", "POST"])
def edit(rally_id: int) -> Response | tuple[str, int]:
    rally = _managed_rally(rally_id)
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
    rally = _managed_rally(rally_id)
    reason = request.form.get("reason", "")[:1000].strip()
    if not reason:
        flash("Indiquez le motif de l’annulation : il est envoyé aux participants.", "error")
        return redirect(url_for("rally_admin.participants", rally_id=rally.id), code=303)
    organisation = access.managed_organisation()
    by = organisation.name if organisation else access.current_moderator()
    if not services.cancel(rally, by, reason):
        flash("Seul un rassemblement publié peut être annulé.", "error")
        return redirect(url_for("rally_admin.participants", rally_id=rally.id), code=303)
    db.session.commit()
    flash("Rassemblement annulé : les participants sont prévenus par e-mail.", "success")
    return redirect(url_for("rally_admin.participants", rally_id=rally.id), code=303)


@bp.get("/organisations/espace/rassemblements/<int:rally_id>/participants")
def participants(rally_id: int) -> str:
    rally = _managed_rally(rally_id)
    people = services.participants(rally)
    return render_template(
        "rallies/participants.html",
        rally=rally,
        people=people,
        confirmed=sum(p.status is RsvpStatus.CONFIRMED for p in people),
        collective=current_collective(),
    )


@bp.get("/organisations/espace/rassemblements/<int:rally_id>/participants.csv")
def participants_csv(rally_id: int) -> Response:
    rally = _managed_rally(rally_id)
    labels = {RsvpStatus.CONFIRMED: "confirmé", RsvpStatus.WAITLISTED: "liste d’attente"}
    return csv_response(
        ["Nom", "E-mail", "Téléphone", "Statut", "Confirmé le", "Source"],
        (
            [
                p.name,
                p.email,
                p.phone or "",
                labels[p.status],
                p.confirmed_at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
                if p.confirmed_at
                else "",
                p.source or "",
            ]
            for p in services.participants(rally)
        ),
        f"participants-rassemblement-{rally.id}.csv",
    )


# --- moderation (the organisers' console takes it over) ------------------------------------


@bp.get("/moderation/rassemblements")
def moderation() -> str:
    access.current_moderator()
    rallies = services.visible_rallies()
    return render_template(
        "rallies/moderation.html",
        proposals=services.pending_proposals(),
        rallies=rallies,
        counts=services.confirmed_counts([r.id for r in rallies]),
        collective=current_collective(),
    )


@bp.post("/moderation/rassemblements/<int:rally_id>")
def decide(rally_id: int) -> Response:
    moderator = access.current_moderator()
    flash(*decisions.decide_rally(rally_id, request.form, moderator))
    return redirect(url_for("rally_admin.moderation"), code=303)
