"""Dashboard, moderation queues, paper signatures, rallies and who is coming to them.

Views stay thin: the figures come from stats.py, the charts from charts.py, paper batches
from papers.py, decisions from decisions.py. Each page showing personal data (the
moderation queues, the paper batches, the participants) writes one audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from flask import Response, abort, flash, redirect, render_template, request, url_for
from wtforms import DateField, IntegerField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, ValidationError

from campaign.console import auth, charts, decisions, papers, stats
from campaign.console import outbox as console_outbox
from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.models import Organiser, Role
from campaign.core.forms import PublicForm, max_length
from campaign.core.templating import thousands
from campaign.core.text import has_control_characters
from campaign.extensions import db
from campaign.organisations import services as organisation_services
from campaign.organisations.forms import KIND_LABELS
from campaign.organisations.models import NATIONAL
from campaign.petition import counting
from campaign.petition.models import Petition
from campaign.rallies import manage_views as rally_manage_views
from campaign.rallies import services as rally_services
from campaign.rallies.models import PARIS, Rally, RsvpStatus, today

R = TypeVar("R", str, Response)


def _me() -> Organiser:
    organiser = auth.current_organiser()
    assert organiser is not None  # requires() let the request in  # nosec B101
    return organiser


def _audited(page: R, action: str, what: str, rows: int) -> R:
    """`page`, once this request's one audit entry is committed. Called once the page is
    built: a commit earlier would expire every row it shows, to be read again one by one."""
    auth.audit(action, what=what, rows=rows)
    db.session.commit()
    return page


# --- the dashboard --------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Everything the dashboard shows about one petition (and the RSVPs of every rally)."""

    totals: stats.Totals
    public_counter: int  # what the public pages show (counting.py): equals totals.public
    days: list[tuple[date, int]]  # every day from the first to the last, 0 included
    departements: list[tuple[str, int]]
    sources: list[tuple[str, int]]
    organisations: list[tuple[str, int]]
    rallies: list[tuple[str, int]]
    rsvps: list[tuple[Rally, int, int]]


def figures(petition: Petition) -> Figures:
    return Figures(
        totals=stats.totals(petition),
        public_counter=counting.count(petition),
        days=charts.fill_days(stats.per_day(petition)),
        departements=stats.per_departement(petition),
        sources=stats.per_source(petition),
        organisations=stats.per_organisation(petition),
        rallies=stats.per_rally(petition),
        rsvps=stats.rsvps_per_rally(),
    )


@bp.get("/tableau-de-bord")
@requires(Role.ORGANISER)
def dashboard() -> str:
    petitions = papers.public_petitions()
    slug = request.args.get("petition", "")[:100]
    petition = papers.chosen_petition(petitions, slug)
    if slug and petition is None:
        abort(404)
    data = day_chart = map_chart = None
    if petition is not None:
        data = figures(petition)
        day_chart = charts.bar_chart(
            data.days,
            chart_id="graphique-jours",
            title=f"Signatures confirmées par jour : {petition.title}",
        )
        map_chart = charts.symbol_map(
            data.departements,
            chart_id="carte-departements",
            title=f"Signatures confirmées par département : {petition.title}",
        )
    return render_template(
        "console/dashboard.html",
        petitions=petitions,
        petition=petition,
        figures=data,
        day_chart=day_chart,
        map_chart=map_chart,
        unknown=stats.UNKNOWN,
        mail_problems=console_outbox.health().problems,
    )


# --- moderation -----------------------------------------------------------------------------


@bp.get("/moderation")
@requires(Role.ORGANISER)
def moderation() -> str:
    applications = organisation_services.pending_applications()
    proposals = rally_services.pending_proposals()
    page = render_template(
        "console/moderation.html",
        applications=applications,
        proposals=proposals,
        kind_labels=KIND_LABELS,
        national=NATIONAL,
        today=today(),
    )
    # The applicants' and the proposed rallies' contacts are personal data.
    what = "demandes d’adhésion et rassemblements proposés"
    return _audited(page, "view.moderation", what, len(applications) + len(proposals))


def _back_to_moderation() -> Response:
    return redirect(url_for("console.moderation"), code=303)


@bp.post("/moderation/organisations/<int:organisation_id>")
@requires(Role.ORGANISER)
def decide_organisation(organisation_id: int) -> Response:
    flash(*decisions.decide_organisation(organisation_id, request.form, _me().name))
    return _back_to_moderation()


@bp.post("/moderation/rassemblements/<int:rally_id>")
@requires(Role.ORGANISER)
def decide_rally(rally_id: int) -> Response:
    flash(*decisions.decide_rally(rally_id, request.form, _me().name))
    return _back_to_moderation()


# --- paper signatures -----------------------------------------------------------------------


class CountField(IntegerField):
    """A whole number, spaces allowed (« 1 200 »), with a French message when it is not one."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        text = "".join(valuelist[0].split())
        if len(text) > 12 or not text.lstrip("-").isascii() or not text.lstrip("-").isdigit():
            raise ValueError("Indiquez un nombre entier, par exemple 250.")
        self.data = int(text)


class FrenchDateField(DateField):
    """A date from <input type=date> (aaaa-mm-jj) or typed as jj/mm/aaaa."""

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            self.data = None
            raise ValueError("Date invalide : indiquez-la sous la forme jj/mm/aaaa.") from exc


def _note(value: str | None) -> str | None:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip() if value else value


class PaperForm(PublicForm):
    petition = SelectField("Pétition", choices=[], validate_choice=False)
    count = CountField(
        "Nombre de signatures",
        validators=[InputRequired("Indiquez le nombre de signatures.")],
        render_kw={"inputmode": "numeric"},
    )
    collected_on = FrenchDateField(
        "Date de collecte",
        format=["%Y-%m-%d", "%d/%m/%Y"],
        validators=[InputRequired("Indiquez la date de collecte.")],
    )
    note = TextAreaField(
        "Note (facultatif) : lieu, occasion, qui les a recueillies…",
        filters=[_note],
        validators=[max_length(papers.MAX_NOTE)],
    )

    def set_petitions(self, petitions: list[Petition]) -> None:
        self._petitions = {p.slug: p for p in petitions}
        self.petition.choices = [SelectChoice("", "— Choisissez —")] + [
            SelectChoice(p.slug, p.title) for p in petitions
        ]

    @property
    def chosen(self) -> Petition:
        return self._petitions[self.petition.data]

    def validate_petition(self, field: SelectField) -> None:
        if field.data not in self._petitions:
            raise ValidationError("Choisissez une pétition dans la liste.")

    def validate_count(self, field: CountField) -> None:
        if field.data is not None and not 1 <= field.data <= papers.MAX_BATCH:
            raise ValidationError("Un nombre entre 1 et 1 000 000.")

    def validate_collected_on(self, field: DateField) -> None:
        if field.data is not None and field.data > today():
            raise ValidationError("La date de collecte ne peut pas être dans le futur.")

    def validate_note(self, field: TextAreaField) -> None:
        if field.data and has_control_characters(field.data.replace("\n", "").replace("\t", "")):
            raise ValidationError("Ce champ contient des caractères invisibles ou de contrôle.")


@bp.route("/papier", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def paper() -> Response | tuple[str, int]:
    petitions = papers.public_petitions()
    status = 200
    if request.method == "POST":
        form = PaperForm()
        form.set_petitions(petitions)
        if form.validate():
            petition = form.chosen
            n = form.count.data
            papers.add_batch(petition, n, form.collected_on.data, form.note.data or "", _me().name)
            db.session.commit()
            counting.forget_cached(petition.id)
            plural = "s" if n > 1 else ""
            flash(
                f"{thousands(n)} signature{plural} papier ajoutée{plural} à « {petition.title} ».",
                "success",
            )
            return redirect(url_for("console.paper", petition=petition.slug), code=303)
        status = 422
    else:
        form = PaperForm(formdata=None)
        form.set_petitions(petitions)
        chosen = papers.chosen_petition(petitions, request.args.get("petition", "")[:100])
        form.petition.data = chosen.slug if chosen else ""
        form.collected_on.data = today()
    totals = {p.id: stats.totals(p).paper for p in petitions}
    batches = papers.batches()
    page = render_template(
        "console/paper.html",
        form=form,
        petitions=petitions,
        paper_totals=totals,
        batches=batches,
        paris=PARIS,
    )
    return _audited(
        page, "view.paper", "signatures papier : notes et auteurs", len(batches)
    ), status


# --- rallies and their participants ---------------------------------------------------------


def rallies_for(organiser: Organiser) -> list[tuple[Rally, int, int]]:
    """(rally, confirmed, waiting) for the rallies this organiser may see: every one, or
    for a rally organiser those of their organisation."""
    rows = stats.rsvps_per_rally()
    if organiser.role is not Role.RALLY_ORGANISER:
        return rows
    if organiser.organisation is None:
        return []
    theirs = {r.id for r in rally_services.rallies_of(organiser.organisation)}
    return [row for row in rows if row[0].id in theirs]


def may_see_participants(organiser: Organiser, rally: Rally) -> bool:
    if organiser.role is not Role.RALLY_ORGANISER:
        return True  # admins and organisers (requires() let no one else in)
    return rally_services.can_manage(organiser.organisation, rally)


def _rally_or_abort(rally_id: int) -> Rally:
    rally = rally_services.get_rally(rally_id)
    if rally is None:
        abort(404)
    if not may_see_participants(_me(), rally):
        abort(403)
    return rally


@bp.get("/rassemblements")
@requires(Role.ORGANISER, Role.RALLY_ORGANISER)
def rallies() -> str:
    me = _me()
    return render_template(
        "console/rallies.html",
        rows=rallies_for(me),
        organisation=me.organisation if me.role is Role.RALLY_ORGANISER else None,
        rally_organiser=me.role is Role.RALLY_ORGANISER,
        today=today(),
    )


@bp.get("/rassemblements/<int:rally_id>/participants")
@requires(Role.ORGANISER, Role.RALLY_ORGANISER)
def participants(rally_id: int) -> str:
    rally = _rally_or_abort(rally_id)
    people = rally_services.participants(rally)
    page = render_template(
        "console/participants.html",
        rally=rally,
        people=people,
        confirmed=sum(p.status is RsvpStatus.CONFIRMED for p in people),
    )
    return _audited(page, "view.rsvps", rally_manage_views.audit_what(rally), len(people))


@bp.get("/rassemblements/<int:rally_id>/participants.csv")
@requires(Role.ORGANISER, Role.RALLY_ORGANISER)
def participants_csv(rally_id: int) -> Response:
    rally = _rally_or_abort(rally_id)
    people = rally_services.participants(rally)
    response = rally_manage_views.participants_csv_response(rally, people)
    return _audited(response, "export.rsvps.csv", rally_manage_views.audit_what(rally), len(people))
