"""« J'y serai », and the form a member organisation fills to propose a rally."""

from __future__ import annotations

from datetime import time

from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import NumberRange, Optional, ValidationError

from campaign.core.forms import (
    Honeypot,
    PublicForm,
    TrappedForm,
    email_address,
    email_field,
    max_length,
    name_field,
    no_control_characters,
    phone_field,
    required,
)
from campaign.core.text import FORMULA_PREFIXES, collapse_spaces
from campaign.petition.forms import clean_tag
from campaign.places import gazetteer
from campaign.places.gazetteer import Commune
from campaign.rallies.models import MobilisationDay, today
from campaign.rallies.rsvp import RsvpInput
from campaign.rallies.services import RallyInput


class RsvpForm(TrappedForm):
    name = name_field("Prénom et nom", "name")
    email = email_field()
    phone = phone_field("Téléphone (facultatif)")
    consent = BooleanField(
        validators=[required("Vous devez accepter ces conditions pour vous inscrire.")]
    )
    website = Honeypot()
    source = HiddenField()  # ?source= of a printed QR code

    def to_input(self) -> RsvpInput:
        return RsvpInput(
            name=self.name.data,
            email=self.email.data,
            phone=self.phone.data or None,
            source=clean_tag(self.source.data),
        )


def _plain(form: object, field: StringField) -> None:
    """Shown on public pages and in spreadsheets: no control characters, no formulas."""
    no_control_characters(form, field)
    if field.data and field.data.lstrip().startswith(FORMULA_PREFIXES):
        raise ValidationError("Ce texte ne peut pas commencer par =, +, - ou @.")


def _text(label: str, limit: int, **kwargs: object) -> StringField:
    return StringField(
        label, filters=[collapse_spaces], validators=[max_length(limit), _plain], **kwargs
    )


def _area(label: str, limit: int = 1000) -> TextAreaField:
    return TextAreaField(
        label,
        filters=[lambda v: v.strip() if v else v],
        validators=[max_length(limit), _plain],
    )


class RallyForm(PublicForm):
    day = SelectField("Journée de mobilisation", choices=[], validate_choice=False)
    place = StringField(
        "Commune ou code postal",
        filters=[collapse_spaces],
        validators=[required("Indiquez la commune du rassemblement."), max_length(100)],
        render_kw={"autocomplete": "off", "list": "commune-suggestions"},
    )
    city = _text("Nom affiché (facultatif)", 120)
    venue = _text("Lieu (facultatif : « à préciser » sinon)", 200)
    address = _text("Adresse (facultatif)", 300, render_kw={"autocomplete": "street-address"})
    date = DateField(
        "Date", validators=[required("Indiquez la date (jj/mm/aaaa).")], format="%Y-%m-%d"
    )
    start_time = TimeField("Heure de début (facultatif)", validators=[Optional()])
    end_time = TimeField("Heure de fin (facultatif)", validators=[Optional()])
    description = _area("Présentation (facultatif)")
    directions = _area("Comment venir : transports, stationnement (facultatif)")
    accessibility = _area("Accessibilité : fauteuil, malentendants… (facultatif)")
    contact_name = _text("Contact public : nom (facultatif)", 200)
    contact_email = EmailField(
        "Contact public : adresse e-mail (facultatif)",
        validators=[Optional(), max_length(254), email_address],
    )
    capacity = IntegerField(
        "Nombre maximum de participants (facultatif)",
        validators=[
            Optional(),
            NumberRange(min=1, max=1_000_000, message="Un nombre entre 1 et 1 000 000."),
        ],
    )
    latitude = StringField("Latitude du lieu (facultatif)", validators=[max_length(20)])
    longitude = StringField("Longitude du lieu (facultatif)", validators=[max_length(20)])

    def set_days(self, days: list[MobilisationDay]) -> None:
        self.day.choices = [SelectChoice(str(d.id), f"{d.title} ({d.date:%d/%m/%Y})") for d in days]
        self._days = {str(d.id): d for d in days}

    def validate_day(self, field: SelectField) -> None:
        if field.data not in self._days:
            raise ValidationError("Choisissez une journée dans la liste.")

    def validate_place(self, field: StringField) -> None:
        """One commune, or say which: a postcode with several communes is not enough."""
        self.commune: Commune | None = None
        found = gazetteer.find(field.data or "")
        exact = [c for c in found if gazetteer.fold(c.name) == gazetteer.fold(field.data or "")]
        if len(found) == 1 or len(exact) == 1:
            self.commune = exact[0] if len(exact) == 1 else found[0]
        elif found:
            names = ", ".join(c.label for c in found[:5])
            raise ValidationError(f"Plusieurs communes correspondent ({names}) : précisez.")
        else:
            raise ValidationError("Commune inconnue : vérifiez le nom ou le code postal.")

    def validate_end_time(self, field: TimeField) -> None:
        if field.data and not self.start_time.data:
            raise ValidationError("Indiquez aussi l’heure de début.")
        if field.data and self.start_time.data and field.data <= self.start_time.data:
            raise ValidationError("L’heure de fin doit suivre l’heure de début.")

    def validate_date(self, field: DateField) -> None:
        if field.data and field.data < today():
            raise ValidationError("Cette date est passée.")

    def _coordinates(self) -> tuple[float, float] | None:
        lat, lon = (self.latitude.data or "").strip(), (self.longitude.data or "").strip()
        if not lat and not lon:
            return None
        try:
            values = float(lat.replace(",", ".")), float(lon.replace(",", "."))
        except ValueError:
            return (float("nan"), float("nan"))
        return values

    def _coordinate(self, field: StringField, limit: float) -> None:
        """Both coordinates or neither; each error beside the field that has it wrong."""
        if self._coordinates() is None:
            return
        try:
            value = float((field.data or "").strip().replace(",", "."))
        except ValueError:
            value = float("nan")
        if not -limit <= value <= limit:  # NaN fails too
            raise ValidationError(
                "Coordonnées invalides : latitude entre -90 et 90, longitude entre -180 et 180, "
                "par exemple 45.7640 et 4.8357 ; laissez vide pour le centre de la commune."
            )

    def validate_latitude(self, field: StringField) -> None:
        self._coordinate(field, 90)

    def validate_longitude(self, field: StringField) -> None:
        self._coordinate(field, 180)

    def to_input(self) -> RallyInput:
        coordinates = self._coordinates()
        return RallyInput(
            day_id=int(self.day.data),
            commune=self.commune,  # type: ignore[arg-type]  (set by validate_place)
            date=self.date.data,
            city=self.city.data or "",
            venue=self.venue.data or "",
            address=self.address.data or "",
            start_time=_minute(self.start_time.data),
            end_time=_minute(self.end_time.data),
            description=self.description.data or "",
            directions=self.directions.data or "",
            accessibility=self.accessibility.data or "",
            contact_name=self.contact_name.data or "",
            contact_email=self.contact_email.data or "",
            capacity=self.capacity.data,
            latitude=coordinates[0] if coordinates else None,
            longitude=coordinates[1] if coordinates else None,
        )


def _minute(value: time | None) -> time | None:
    return value.replace(second=0, microsecond=0) if value else None
