"""Mobilisation days and rallies, created and edited by the collective's organisers.

A rally added here is published at once, in the organiser's name; members' proposals still
go through the moderation queue. Cancelling goes through rallies/services.py `cancel`, which
emails every participant. Every change is written to the audit log.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from wtforms import SelectChoice, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Optional, ValidationError

from campaign.console import auth
from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.dashboard import CountField, FrenchDateField
from campaign.console.models import Organiser, Role
from campaign.content.models import Collective
from campaign.content.services import collective_or_404, current_collective
from campaign.core.forms import PublicForm, max_length, no_control_characters, required
from campaign.core.text import collapse_spaces, has_control_characters
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.places import gazetteer
from campaign.places.gazetteer import Commune
from campaign.rallies import finder, services
from campaign.rallies.forms import RallyForm
from campaign.rallies.models import MobilisationDay, Rally, RallyStatus, today

MAX_PRESENTATION = 5000
MAX_REASON = 1000


def _me() -> Organiser:
    organiser = auth.current_organiser()
    assert organiser is not None  # nosec B101  # requires() let the request in
    return organiser


def _lines(value: str | None) -> str | None:
    """A multi-line text as typed, with one kind of line break."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip() if value else value


def _no_hidden_characters(form: object, field: TextAreaField) -> None:
    """Line breaks and tabs are welcome in a long text; other control characters are not."""
    if field.data and has_control_characters(field.data.replace("\n", "").replace("\t", "")):
        raise ValidationError("Ce champ contient des caractères invisibles ou de contrôle.")


# --- forms ----------------------------------------------------------------------------------


class DayForm(PublicForm):
    title = StringField(
        "Titre",
        filters=[collapse_spaces],
        validators=[
            required("Indiquez le titre de la journée."),
            max_length(200),
            no_control_characters,
        ],
    )
    date = FrenchDateField(
        "Date",
        format=["%Y-%m-%d", "%d/%m/%Y"],
        validators=[InputRequired("Indiquez la date de la journée (jj/mm/aaaa).")],
    )
    presentation = TextAreaField(
        "Présentation (facultatif)",
        filters=[_lines],
        validators=[max_length(MAX_PRESENTATION), _no_hidden_characters],
    )
    slug = StringField(
        "Adresse de la page (facultatif)",
        filters=[lambda v: v.strip() if v else v],
        validators=[max_length(80)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )

    def __init__(self, *args: object, day: MobilisationDay | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)
        self.day = day

    def validate_date(self, field: FrenchDateField) -> None:
        # A day already past may keep its date (a typo to fix); it cannot be moved there.
        unchanged = self.day is not None and field.data == self.day.date
        if field.data and field.data < today() and not unchanged:
            raise ValidationError("Cette date est passée.")

    def validate_slug(self, field: StringField) -> None:
        if not field.data:
            return
        if not services.slug_is_valid(field.data):
            raise ValidationError(
                "Lettres minuscules sans accents, chiffres et tirets, par exemple "
                "journee-15-mai-2026."
            )
        if services.slug_taken(field.data, self.day.id if self.day else None):
            raise ValidationError(
                "Une autre journée a déjà cette adresse : choisissez-en une autre."
            )


class CancelForm(PublicForm):
    reason = TextAreaField(
        "Motif de l’annulation (envoyé aux participants)",
        filters=[_lines],
        validators=[
            required("Indiquez le motif de l’annulation : il est envoyé aux participants."),
            max_length(MAX_REASON),
            _no_hidden_characters,
        ],
    )


class FrenchTimeField(TimeField):
    """<input type=time> (hh:mm), with a French message when it is not a time."""

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            self.data = None
            raise ValueError(
                "Heure invalide : indiquez-la sous la forme hh:mm, par exemple 14:30."
            ) from exc


class ConsoleRallyForm(RallyForm):
    """The members' rally form, plus the organisation holding the rally; the date must be
    the chosen day's, and a commune with homonyms is chosen among them as in the finder."""

    # French messages when these are not numbers or times (the members' fields say it in
    # English); the same labels and bounds otherwise.
    capacity = CountField(
        "Nombre maximum de participants (facultatif)", render_kw={"inputmode": "numeric"}
    )
    start_time = FrenchTimeField("Heure de début (facultatif)", validators=[Optional()])
    end_time = FrenchTimeField("Heure de fin (facultatif)", validators=[Optional()])
    organisation = SelectField(
        "Organisation qui le porte (facultatif)", choices=[], validate_choice=False
    )
    # The INSEE code of the commune picked among homonyms (radio buttons under the field).
    homonym = StringField(validators=[max_length(5)])

    def set_organisations(self, organisations: list[Organisation]) -> None:
        self._organisations = {str(o.id): o for o in organisations}
        self.organisation.choices = [SelectChoice("", "— Aucune : le collectif —")] + [
            SelectChoice(str(o.id), o.name) for o in organisations
        ]

    @property
    def holder(self) -> Organisation | None:
        return self._organisations.get(self.organisation.data or "")

    def validate_organisation(self, field: SelectField) -> None:
        if field.data and field.data not in self._organisations:
            raise ValidationError("Choisissez une organisation dans la liste.")

    def validate_capacity(self, field: CountField) -> None:
        if field.data is not None and not 1 <= field.data <= 1_000_000:
            raise ValidationError("Un nombre entre 1 et 1 000 000.")

    def validate_date(self, field: FrenchDateField) -> None:
        # Past days are offered only to the rally already on one (validate_day).
        day = self._days.get(self.day.data or "")
        if field.data and day is not None and field.data != day.date:
            raise ValidationError(
                f"La date doit être celle de la journée choisie : le {day.date:%d/%m/%Y}."
            )

    def validate_place(self, field: StringField) -> None:
        """As the finder understands it (its messages), then one commune exactly; when
        several fit, they are offered (self.homonyms) to pick from."""
        self.homonyms: list[Commune] = []
        picked = gazetteer.commune(self.homonym.data or "")
        if picked is not None:
            field.data = picked.label
            self.commune = picked
            return
        resolution = finder.resolve(field.data or "")
        if resolution.error:
            raise ValidationError(resolution.error)
        try:
            super().validate_place(field)
        except ValidationError:
            # A postcode resolves to its largest commune in the finder; a rally needs one.
            self.homonyms = (
                resolution.choices
                if resolution.place is None
                else gazetteer.find(field.data or "", limit=50)
            )
            raise ValidationError(
                "Plusieurs communes correspondent : choisissez-la dans la liste ci-dessous."
            ) from None


# --- days -----------------------------------------------------------------------------------


def _day_or_404(day_id: int) -> MobilisationDay:
    day = services.get_day_by_id(day_id)
    if day is None:
        abort(404)
    return day


def _day_what(day: MobilisationDay) -> str:
    return f"journée {day.id} {day.slug}"


@bp.get("/journees")
@requires(Role.ORGANISER)
def days() -> str:
    collective = current_collective()
    found = services.days(collective) if collective else []
    return render_template(
        "console/days/list.html",
        days=found,
        counts=services.rally_counts_by_day([d.id for d in found]),
        today=today(),
    )


def _day_page(form: DayForm, day: MobilisationDay | None, status: int) -> tuple[str, int]:
    return render_template(
        "console/days/form.html",
        form=form,
        day=day,
        rallies=services.rallies_of_day(day) if day else [],
        today=today(),
    ), status


def _slug_taken_meanwhile(form: DayForm) -> None:
    """Another day took the address between the check and the commit: the unique
    constraint decided, and the person is told beside the field."""
    db.session.rollback()
    form.slug.errors = ["Une autre journée a déjà cette adresse : choisissez-en une autre."]


@bp.route("/journees/nouvelle", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def new_day() -> Response | tuple[str, int]:
    collective = collective_or_404()
    if request.method == "GET":
        return _day_page(DayForm(formdata=None), None, 200)
    form = DayForm()
    if not form.validate():
        return _day_page(form, None, 422)
    try:
        day = services.create_day(
            collective,
            form.title.data,
            form.date.data,
            form.presentation.data or "",
            form.slug.data,
        )
        auth.audit("day.create", what=_day_what(day))
        db.session.commit()
    except IntegrityError:
        _slug_taken_meanwhile(form)
        return _day_page(form, None, 422)
    flash(f"Journée « {day.title} » créée : ajoutez-lui des rassemblements.", "success")
    return redirect(url_for("console.edit_day", day_id=day.id), code=303)


@bp.route("/journees/<int:day_id>", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def edit_day(day_id: int) -> Response | tuple[str, int]:
    day = _day_or_404(day_id)
    if request.method == "GET":
        return _day_page(DayForm(formdata=None, obj=day, day=day), day, 200)
    form = DayForm(day=day)
    if not form.validate():
        return _day_page(form, day, 422)
    try:
        moved = services.update_day(
            day, form.title.data, form.date.data, form.presentation.data or "", form.slug.data
        )
        auth.audit("day.update", what=_day_what(day))
        db.session.commit()
    except IntegrityError:
        _slug_taken_meanwhile(form)
        return _day_page(form, _day_or_404(day_id), 422)
    message = "Journée enregistrée."
    if moved:
        plural = "s" if moved > 1 else ""
        message += (
            f" {moved} rassemblement{plural} déplacé{plural} à la nouvelle date : leurs "
            "inscrits ne sont pas prévenus de ce changement par e-mail."
        )
    flash(message, "success")
    return redirect(url_for("console.edit_day", day_id=day.id), code=303)


@bp.route("/journees/<int:day_id>/annuler", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def cancel_day(day_id: int) -> Response | tuple[str, int]:
    day = _day_or_404(day_id)
    if day.cancelled_at is not None:
        flash("Cette journée est déjà annulée.", "error")
        return redirect(url_for("console.edit_day", day_id=day.id), code=303)
    form = CancelForm() if request.method == "POST" else CancelForm(formdata=None)
    if request.method == "GET" or not form.validate():
        published = sum(r.status is RallyStatus.PUBLISHED for r in day.rallies)
        return render_template(
            "console/days/cancel.html", form=form, day=day, rally=None, published=published
        ), (200 if request.method == "GET" else 422)
    try:
        cancelled = services.cancel_day(day, _me().name, form.reason.data)
    except services.DayCancelledError:
        db.session.rollback()
        flash("Cette journée est déjà annulée.", "error")
        return redirect(url_for("console.edit_day", day_id=day.id), code=303)
    auth.audit("day.cancel", what=f"{_day_what(day)} ({len(cancelled)} rassemblements annulés)")
    db.session.commit()
    n, plural = len(cancelled), "s" if len(cancelled) > 1 else ""
    flash(
        f"Journée annulée, et avec elle {n} rassemblement{plural} publié{plural} : "
        "leurs participants sont prévenus par e-mail.",
        "success",
    )
    return redirect(url_for("console.edit_day", day_id=day.id), code=303)


# --- rallies --------------------------------------------------------------------------------


def _rally_form(
    collective: Collective, rally: Rally | None, day: MobilisationDay
) -> ConsoleRallyForm:
    if request.method == "POST":
        form = ConsoleRallyForm()
    else:
        form = ConsoleRallyForm(formdata=None, obj=rally)
        form.day.data = str(day.id)
        if rally is None:
            form.date.data = day.date
        else:
            commune = gazetteer.commune(rally.commune_insee)
            form.place.data = commune.label if commune else rally.city
            holder = services.holder_of(rally)
            form.organisation.data = str(holder.id) if holder else ""
    # Days still to come and not cancelled, and the rally's own when editing.
    keep = rally.day_id if rally is not None else day.id
    form.set_days(
        [
            d
            for d in services.days(collective)
            if d.id == keep or (d.date >= today() and d.cancelled_at is None)
        ]
    )
    # Approved members, and whoever holds the rally already (even if no longer approved:
    # saving must not drop them unasked).
    organisations = services.approved_organisations(collective)
    if rally is not None:
        known = {o.id for o in organisations}
        organisations += [o for o in rally.organisations if o.id not in known]
    form.set_organisations(organisations)
    return form


def _rally_page(
    form: ConsoleRallyForm, rally: Rally | None, day: MobilisationDay, status: int
) -> tuple[str, int]:
    confirmed = services.confirmed_counts([rally.id]).get(rally.id, 0) if rally else 0
    return render_template(
        "console/days/rally_form.html",
        form=form,
        rally=rally,
        day=day,
        confirmed=confirmed,
        homonyms=getattr(form, "homonyms", []),
        today=today(),
    ), status


def _rally_what(rally: Rally) -> str:
    return f"rassemblement {rally.id} {rally.city} ({rally.day.slug})"


@bp.route("/journees/<int:day_id>/rassemblements/nouveau", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def new_rally(day_id: int) -> Response | tuple[str, int]:
    day = _day_or_404(day_id)
    if day.cancelled_at is not None or day.date < today():
        flash(
            "Cette journée est annulée : on ne peut plus lui ajouter de rassemblement."
            if day.cancelled_at is not None
            else "Cette journée est passée : on ne peut plus lui ajouter de rassemblement.",
            "error",
        )
        return redirect(url_for("console.edit_day", day_id=day.id), code=303)
    form = _rally_form(day.collective, None, day)
    if request.method == "GET":
        return _rally_page(form, None, day, 200)
    if not form.validate():
        return _rally_page(form, None, day, 422)
    rally = services.publish_from_console(form.to_input(), _me().name, form.holder)
    auth.audit("rally.create", what=_rally_what(rally))
    db.session.commit()
    flash(f"Rassemblement de {rally.city} publié.", "success")
    return redirect(url_for("console.edit_day", day_id=rally.day_id), code=303)


def _rally_or_404(rally_id: int) -> Rally:
    rally = services.get_rally(rally_id)
    if rally is None:
        abort(404)
    return rally


@bp.route("/rassemblements/<int:rally_id>/modifier", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def edit_rally(rally_id: int) -> Response | tuple[str, int]:
    rally = _rally_or_404(rally_id)
    form = _rally_form(rally.day.collective, rally, rally.day)
    if request.method == "GET":
        return _rally_page(form, rally, rally.day, 200)
    if not form.validate():
        return _rally_page(form, rally, rally.day, 422)
    promoted = services.update_from_console(rally, form.to_input(), form.holder)
    auth.audit("rally.update", what=_rally_what(rally))
    db.session.commit()
    message = "Modifications enregistrées."
    if promoted:
        message += (
            f" {promoted} personne{'s' if promoted > 1 else ''} de la liste d’attente "
            f"{'ont' if promoted > 1 else 'a'} maintenant une place (prévenue"
            f"{'s' if promoted > 1 else ''} par e-mail)."
        )
    flash(message, "success")
    return redirect(url_for("console.edit_rally", rally_id=rally.id), code=303)


@bp.route("/rassemblements/<int:rally_id>/annuler", methods=["GET", "POST"])
@requires(Role.ORGANISER)
def cancel_rally(rally_id: int) -> Response | tuple[str, int]:
    rally = _rally_or_404(rally_id)
    if rally.status is not RallyStatus.PUBLISHED:
        flash("Seul un rassemblement publié peut être annulé.", "error")
        return redirect(url_for("console.edit_rally", rally_id=rally.id), code=303)
    form = CancelForm() if request.method == "POST" else CancelForm(formdata=None)
    if request.method == "GET" or not form.validate():
        confirmed = services.confirmed_counts([rally.id]).get(rally.id, 0)
        return render_template(
            "console/days/cancel.html", form=form, day=rally.day, rally=rally, confirmed=confirmed
        ), (200 if request.method == "GET" else 422)
    services.cancel(rally, _me().name, form.reason.data)
    auth.audit("rally.cancel", what=_rally_what(rally))
    db.session.commit()
    flash(
        f"Rassemblement de {rally.city} annulé : ses participants sont prévenus par e-mail.",
        "success",
    )
    return redirect(url_for("console.edit_day", day_id=rally.day_id), code=303)
