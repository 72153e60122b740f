"""Petitions in the console: organisers write and correct them, admins move them through
their steps (petition/lifecycle.py), both enter a relayed petition's official counts.

A draft is read at a private preview link before it opens. Once signed, a change of the
text needs a reason and makes a new version (petition/editing.py). Every change and step
is written to the audit log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from wtforms import Field, HiddenField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError
from wtforms.widgets import DateTimeLocalInput

from campaign.console import auth
from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.collective import address_field, line_field, text_field
from campaign.console.dashboard import CountField, FrenchDateField
from campaign.console.models import Role
from campaign.content.models import Collective, Demand
from campaign.content.services import collective_or_404, current_collective
from campaign.core.forms import PublicForm, max_length, no_control_characters
from campaign.core.text import collapse_spaces
from campaign.core.urls import public_url_for
from campaign.extensions import db
from campaign.petition import counting, editing, lifecycle, relay, services
from campaign.petition.models import Petition, PetitionStatus
from campaign.places.gazetteer import fold
from campaign.rallies.models import PARIS

MAX_TEXT = 20_000
MAX_TARGET = 100_000_000


# --- fields ---------------------------------------------------------------------------------


class ParisDateTimeField(Field):
    """A moment in Paris time, from <input type=datetime-local> (aaaa-mm-jjThh:mm) or typed
    as jj/mm/aaaa hh:mm (a date alone is midnight); its data is in UTC."""

    widget = DateTimeLocalInput()
    FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d")

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.data.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M") if self.data else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        text = " ".join((valuelist[0] if valuelist else "").split())
        if not text:
            return
        for fmt in self.FORMATS:
            try:
                local = datetime.strptime(text, fmt)
            except ValueError:
                continue
            self.data = local.replace(tzinfo=PARIS).astimezone(UTC)
            return
        raise ValueError("Date invalide : indiquez-la sous la forme jj/mm/aaaa hh:mm.")


class DemandsField(Field):
    """The demands a petition carries, in its order: one <select name=demands> per place,
    read in the page's order; empty places are skipped. Its data: demand ids."""

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = []
        for value in valuelist:
            if not value.strip():
                continue
            if not value.isascii() or not value.isdigit() or len(value) > 9:
                raise ValueError("Choisissez les revendications dans les listes.")
            self.data.append(int(value))

    def process_data(self, value: object) -> None:
        self.data = list(value) if isinstance(value, list | tuple) else []


def _slug_of(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(title))[: editing.MAX_SLUG - 4].strip("-") or "petition"


class PetitionForm(PublicForm):
    title = line_field("Titre", 300)
    slug = StringField(
        "Adresse de la page (facultatif)",
        filters=[lambda v: v.strip().lower() if v else ""],
        validators=[max_length(editing.MAX_SLUG)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    addressee = line_field("Destinataire (à qui elle est remise)", 300)
    summary = text_field(
        "Résumé (une ou deux phrases, pour les partages)", 500, render_kw={"rows": 2}
    )
    text = text_field("Texte de la pétition", MAX_TEXT, render_kw={"rows": 14})
    demands = DemandsField("Revendications portées, dans l’ordre")
    call_to_action = StringField(
        "Appel à signer (le bouton)",
        default="Signez maintenant",
        filters=[collapse_spaces],
        validators=[max_length(120), no_control_characters],
    )
    target = CountField(
        "Objectif de signatures (facultatif)",
        validators=[
            Optional(),
            NumberRange(0, MAX_TARGET, f"Un nombre entre 0 et {MAX_TARGET:,}.".replace(",", " ")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    opens_at = ParisDateTimeField("Ouverture des signatures (heure de Paris, facultatif)")
    closes_at = ParisDateTimeField("Clôture des signatures (heure de Paris, facultatif)")
    official_url = address_field(
        "Pétition relayée : son adresse sur le site officiel (facultatif)", 500, https_only=True
    )
    reason = text_field("Motif de la correction", 1000, render_kw={"rows": 2})

    def __init__(
        self,
        *args: object,
        collective: Collective,
        petition: Petition | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.collective = collective
        self.petition = petition

    @property
    def choices(self) -> list[Demand]:
        return list(self.collective.demands)

    def validate_title(self, field: StringField) -> None:
        if not field.data:
            raise ValidationError("Indiquez le titre de la pétition.")

    def validate_addressee(self, field: StringField) -> None:
        if not field.data:
            raise ValidationError("Indiquez à qui la pétition s’adresse.")

    def validate_text(self, field: Field) -> None:
        if not field.data:
            raise ValidationError("Écrivez le texte de la pétition.")

    def validate_call_to_action(self, field: StringField) -> None:
        field.data = field.data or "Signez maintenant"

    def validate_slug(self, field: StringField) -> None:
        if self.petition is not None and self.petition.status is not PetitionStatus.DRAFT:
            field.data = self.petition.slug  # its links and QR codes are out: it stays
            return
        field.data = field.data or _slug_of(self.title.data or "")
        if not editing.SLUG.fullmatch(field.data):
            raise ValidationError(
                "Lettres minuscules sans accents, chiffres et tirets, par exemple "
                "protegeons-les-enfants."
            )
        if editing.slug_taken(field.data, self.petition.id if self.petition else None):
            raise ValidationError("Une autre pétition a déjà cette adresse : choisissez-en une.")

    def validate_demands(self, field: DemandsField) -> None:
        known = {d.id for d in self.choices}
        if any(i not in known for i in field.data):
            raise ValidationError("Choisissez les revendications dans les listes.")
        if len(set(field.data)) != len(field.data):
            raise ValidationError("Une même revendication est choisie deux fois.")

    def validate_closes_at(self, field: ParisDateTimeField) -> None:
        if field.data and self.opens_at.data and field.data <= self.opens_at.data:
            raise ValidationError("La clôture doit suivre l’ouverture.")

    def draft(self) -> editing.Draft:
        return editing.Draft(
            slug=self.slug.data,
            title=self.title.data,
            addressee=self.addressee.data,
            summary=self.summary.data or "",
            text=self.text.data,
            demand_ids=self.demands.data,
            call_to_action=self.call_to_action.data,
            target=self.target.data or 0,
            opens_at=self.opens_at.data,
            closes_at=self.closes_at.data,
            official_url=self.official_url.data or None,
        )


class StepForm(PublicForm):
    to = HiddenField(validators=[InputRequired()])
    note = text_field(
        "Note (publiée sur la page de la pétition)", lifecycle.MAX_NOTE, render_kw={"rows": 2}
    )
    handed_over_on = FrenchDateField(
        "Date de la remise", format=["%Y-%m-%d", "%d/%m/%Y"], validators=[Optional()]
    )


class OfficialCountForm(PublicForm):
    count = CountField(
        "Signatures sur le site officiel",
        validators=[
            InputRequired("Indiquez le nombre affiché sur le site officiel."),
            NumberRange(0, MAX_TARGET, "Un nombre positif."),
        ],
        render_kw={"inputmode": "numeric"},
    )
    counted_on = FrenchDateField(
        "Relevé le",
        format=["%Y-%m-%d", "%d/%m/%Y"],
        validators=[InputRequired("Indiquez le jour du relevé (jj/mm/aaaa).")],
    )
    note = text_field("Note (facultatif)", 500, render_kw={"rows": 2})

    def validate_counted_on(self, field: FrenchDateField) -> None:
        if field.data and field.data > datetime.now(PARIS).date():
            raise ValidationError("Un relevé ne peut pas être daté de demain.")


# --- pages ----------------------------------------------------------------------------------


def _petition_or_404(slug: str) -> Petition:
    petition = services.get_petition(slug, include_drafts=True)
    if petition is None:
        abort(404)
    return petition


def _me_name() -> str:
    organiser = auth.current_organiser()
    return organiser.name if organiser else "?"


@bp.get("/petitions")
@requires(Role.ORGANISER)
def petitions() -> str:
    collective = current_collective()
    found = editing.collective_petitions(collective) if collective else []
    return render_template(
        "console/petitions/list.html",
        petitions=found,
        counts={p.id: counting.count(p) for p in found},
        stage=services.stage,
    )


def _form_page(form: PetitionForm, petition: Petition | None, status: int) -> tuple[str, int]:
    return render_template(
        "console/petitions/form.html",
        form=form,
        petition=petition,
        locked=bool(petition) and editing.has_signatures(petition),
    ), status


@bp.route("/petitions/nouvelle", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def new_petition() -> Response | tuple[str, int]:
    collective = collective_or_404()
    if request.method == "GET":
        return _form_page(PetitionForm(formdata=None, collective=collective), None, 200)
    form = PetitionForm(collective=collective)
    if not form.validate():
        return _form_page(form, None, 422)
    try:
        petition = editing.create(collective, form.draft())
        auth.audit("petition.create", what=petition.slug)
        db.session.commit()
    except IntegrityError:  # the address was taken between the check and the commit
        db.session.rollback()
        form.slug.errors = ["Une autre pétition a déjà cette adresse : choisissez-en une."]
        return _form_page(form, None, 422)
    flash("Brouillon enregistré : relisez-le avec l’aperçu, puis ouvrez-le.", "success")
    return redirect(url_for("console.petition", slug=petition.slug), code=303)


@bp.route("/petitions/<slug>/modifier", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def edit_petition(slug: str) -> Response | tuple[str, int]:
    petition = _petition_or_404(slug)
    collective = petition.collective
    if request.method == "GET":
        data = {"demands": [d.id for d in petition.demands]}
        form = PetitionForm(formdata=None, obj=petition, data=data, collective=collective)
        return _form_page(form, petition, 200)
    form = PetitionForm(collective=collective, petition=petition)
    if not form.validate():
        return _form_page(form, petition, 422)
    try:
        version = editing.update(petition, form.draft(), _me_name(), form.reason.data or "")
    except editing.CorrectionReasonMissingError:
        db.session.rollback()
        form.reason.errors = [
            "Elle a déjà été signée : dites pourquoi le texte change (le motif est publié)."
        ]
        return _form_page(form, _petition_or_404(slug), 422)
    what = f"{petition.slug} (version {version.number})" if version else petition.slug
    auth.audit("petition.correct" if version else "petition.update", what=what)
    db.session.commit()
    services.forget_cached(slug)
    services.forget_cached(petition.slug)
    flash(
        f"Correction publiée : version {version.number} du texte."
        if version
        else "Pétition enregistrée.",
        "success",
    )
    return redirect(url_for("console.petition", slug=petition.slug), code=303)


def _show_page(
    petition: Petition,
    step_form: StepForm | None = None,
    count_form: OfficialCountForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    token = editing.preview_token(petition)
    return render_template(
        "console/petitions/show.html",
        petition=petition,
        stage=services.stage(petition),
        count=counting.count(petition),
        steps=lifecycle.next_steps(petition),
        labels=lifecycle.LABELS,
        step_form=step_form or StepForm(formdata=None),
        count_form=count_form or OfficialCountForm(formdata=None),
        official_counts=editing.official_counts(petition),
        clicks=relay.click_counts(petition.id) if petition.is_relayed else None,
        preview_path=url_for("petition.preview", slug=petition.slug, token=token),
        preview_url=public_url_for("petition.preview", slug=petition.slug, token=token),
        signed=editing.has_signatures(petition),
    ), status


@bp.get("/petitions/<slug>")
@requires(Role.ORGANISER)
def petition(slug: str) -> tuple[str, int]:
    return _show_page(_petition_or_404(slug))


@bp.post("/petitions/<slug>/etape")
@requires(Role.ADMIN)
def petition_step(slug: str) -> Response | tuple[str, int]:
    petition = _petition_or_404(slug)
    form = StepForm()
    to = PetitionStatus(form.to.data) if form.to.data in set(PetitionStatus) else None
    if not form.validate() or to is None:
        form.to.errors = ["Cette étape n’existe pas."]
        return _show_page(petition, step_form=form, status=422)
    step = lifecycle.Step(to, _me_name(), form.note.data or "", form.handed_over_on.data)
    try:
        lifecycle.take(petition, step)
    except lifecycle.IllegalStepError as exc:
        db.session.rollback()
        form.to.errors = [str(exc)]
        return _show_page(_petition_or_404(slug), step_form=form, status=422)
    auth.audit(f"petition.status.{to.value}", what=slug)
    db.session.commit()
    services.forget_cached(slug)
    flash(f"La pétition est maintenant {lifecycle.LABELS[to]}.", "success")
    return redirect(url_for("console.petition", slug=slug), code=303)


@bp.post("/petitions/<slug>/decompte-officiel")
@requires(Role.ORGANISER)
def official_count(slug: str) -> Response | tuple[str, int]:
    petition = _petition_or_404(slug)
    if not petition.is_relayed:
        abort(404)
    form = OfficialCountForm()
    if not form.validate():
        return _show_page(petition, count_form=form, status=422)
    editing.add_official_count(
        petition, form.count.data, form.counted_on.data, form.note.data or "", _me_name()
    )
    auth.audit("petition.official_count", what=f"{slug} {form.count.data}")
    db.session.commit()
    services.forget_cached(slug)
    flash("Décompte officiel enregistré : il est affiché sur la page de la pétition.", "success")
    return redirect(url_for("console.petition", slug=slug, _anchor="decompte"), code=303)
