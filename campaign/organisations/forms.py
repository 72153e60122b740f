"""The application form of an organisation wishing to join the collective."""

from __future__ import annotations

import re
import unicodedata

from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import ValidationError

from campaign.core.forms import (
    Honeypot,
    PublicForm,
    TrappedForm,
    email_address,
    max_length,
    name_field,
    no_control_characters,
    phone_field,
    required,
    uploaded_logo,
)
from campaign.core.geo import DEPARTEMENTS
from campaign.core.text import _URL_LIKE, FORMULA_PREFIXES, collapse_spaces
from campaign.organisations.identifiers import identifier_problem, normalise_identifier
from campaign.organisations.models import NATIONAL, OrganisationKind
from campaign.organisations.services import Application

KIND_LABELS = {
    OrganisationKind.ASSOCIATION: "Association",
    OrganisationKind.FEDERATION: "Fédération",
    OrganisationKind.INSTITUTION: "Institution",
    OrganisationKind.SYNDICAT: "Syndicat",
    OrganisationKind.COLLECTIF: "Collectif",
    OrganisationKind.AUTRE: "Autre",
}
_WEBSITE = re.compile(r"^https?://[^\s/$.?#][^\s<>\"]*$", re.IGNORECASE)


# Dots in disguise: other scripts' full stops, leaders, middle dots and bullets (NFKC has
# already turned the full-width and small full stops into ".").
_DOTS = str.maketrans(dict.fromkeys("\u3002\u2e3c\u0701\u00b7\u2022\u2219\u22c5\u30fb", "."))
# « [.] », « (.) », « [dot] », « (point) »…, and a dot with spaces around it.
_BRACKETED_DOT = re.compile(r"\s*[\[({<]\s*(?:\.|dot|point)\s*[\])}>]\s*", re.IGNORECASE)
_SPACED_DOT = re.compile(r"\s*\.\s*")
WEB_ADDRESS_IN_NAME = (
    "Le nom ne peut pas contenir d’adresse web, même déguisée (« exemple . fr », "
    "« exemple[.]fr »…) : indiquez le site dans le champ « Site web »."
)
WEB_ADDRESS_IN_PERSON = "Un nom ne peut pas contenir d’adresse web."


def looks_like_web_address(value: str) -> bool:
    """A web address, or one written to slip past a filter: « evil . com », « evil[.]com »,
    « exemple。com » (full-width dots), « ｅｖｉｌ．ｃｏｍ ». Folded to a plain address first,
    then checked by the same rule as people's names (core/text.py)."""
    folded = unicodedata.normalize("NFKC", value).translate(_DOTS)
    folded = _SPACED_DOT.sub(".", _BRACKETED_DOT.sub(".", folded))
    return bool(_URL_LIKE.search(folded))


def _organisation_name(form: object, field: StringField) -> None:
    if not field.data:
        return
    if field.data.startswith(FORMULA_PREFIXES):
        raise ValidationError("Le nom ne peut pas commencer par =, +, - ou @.")
    if looks_like_web_address(field.data):
        raise ValidationError(WEB_ADDRESS_IN_NAME)


class ApplyForm(TrappedForm):
    honeypot = "website_check"
    name = StringField(
        "Nom de l’organisation",
        filters=[collapse_spaces],
        validators=[required(), max_length(200), no_control_characters, _organisation_name],
    )
    kind = SelectField(
        "Type d’organisation",
        choices=[
            SelectChoice("", "Choisissez…"),
            *[SelectChoice(k.value, label) for k, label in KIND_LABELS.items()],
        ],
        validate_choice=False,
    )
    identifier = StringField(
        "Numéro RNA ou SIREN (facultatif)",
        filters=[lambda v: normalise_identifier(v) if v else v],
        validators=[max_length(20)],
    )
    website = StringField(
        "Site web (facultatif)",
        filters=[lambda v: v.strip() if v else v],
        validators=[max_length(300), no_control_characters],
        render_kw={"inputmode": "url", "autocomplete": "url"},
    )
    departement = SelectField(
        "Département",
        choices=[
            SelectChoice("", "Choisissez…"),
            SelectChoice(NATIONAL, "Action nationale"),
            *[SelectChoice(d) for d in DEPARTEMENTS],
        ],
        validate_choice=False,
    )
    presentation = TextAreaField(
        "Présentation en quelques lignes",
        filters=[lambda v: v.strip() if v else v],
        validators=[required(), max_length(1000), no_control_characters],
    )
    contact_name = name_field("Personne à contacter", "name")
    contact_email = EmailField(
        "Son adresse e-mail",
        validators=[required(), max_length(254), email_address],
        render_kw={"autocomplete": "email"},
    )
    contact_phone = phone_field("Son téléphone (facultatif)")
    logo = FileField("Logo (facultatif)", render_kw={"accept": "image/png,image/jpeg,image/webp"})
    shares_demands = BooleanField(
        validators=[
            required(
                "Pour rejoindre le collectif, votre organisation doit partager ses revendications."
            )
        ]
    )
    listed = BooleanField()
    website_check = Honeypot()

    def validate_contact_name(self, field: StringField) -> None:
        """On top of name_field's checks: its name is in the email a stranger may get."""
        if field.data and looks_like_web_address(field.data):
            raise ValidationError(WEB_ADDRESS_IN_PERSON)

    def validate_kind(self, field: SelectField) -> None:
        if field.data not in {k.value for k in OrganisationKind}:
            raise ValidationError("Choisissez le type d’organisation dans la liste.")

    def validate_departement(self, field: SelectField) -> None:
        if field.data != NATIONAL and field.data not in DEPARTEMENTS:
            raise ValidationError("Choisissez un département, ou « Action nationale ».")

    def validate_identifier(self, field: StringField) -> None:
        if field.data and (problem := identifier_problem(field.data)):
            raise ValidationError(problem)

    def validate_website(self, field: StringField) -> None:
        if field.data and not _WEBSITE.match(field.data):
            raise ValidationError(
                "Adresse web invalide : elle doit commencer par https:// ou http://."
            )

    def validate_logo(self, field: FileField) -> None:
        self.logo_png = uploaded_logo(field)

    def to_application(self) -> Application:
        return Application(
            name=self.name.data,
            kind=OrganisationKind(self.kind.data),
            departement=self.departement.data,
            contact_name=self.contact_name.data,
            contact_email=self.contact_email.data,
            identifier=self.identifier.data or None,
            website=self.website.data or "",
            presentation=self.presentation.data,
            contact_phone=self.contact_phone.data or None,
            listed=bool(self.listed.data),
            logo_png=getattr(self, "logo_png", None),
        )


class ManageForm(PublicForm):
    """What a member organisation may change itself: its presentation and its logo."""

    presentation = ApplyForm.presentation
    logo = ApplyForm.logo
    validate_logo = ApplyForm.validate_logo
