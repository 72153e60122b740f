"""The signing and resend forms."""

from __future__ import annotations

import re

from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import ValidationError

from campaign.core.forms import (
    CountrySelect,
    Honeypot,
    TrappedForm,
    country_codes,
    email_field,
    max_length,
    name_field,
    no_control_characters,
    required,
)
from campaign.core.geo import departement_for_postcode
from campaign.petition.services import SignatureInput

_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_FOREIGN_POSTCODE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,11}$")


def clean_tag(value: str | None) -> str | None:
    """Source tags come from URLs anyone can write: keep only short slug-like ones."""
    value = (value or "").strip().lower()
    return value if _TAG.match(value) else None


class SignForm(TrappedForm):
    # Declared in the order shown, which is also the order of the error summary.
    first_name = name_field("Prénom", "given-name")
    last_name = name_field("Nom", "family-name")
    email = email_field()
    country = SelectField(
        "Pays de résidence",
        choices=[],  # CountrySelect renders country_choices() itself, from a cache
        default="FR",
        validate_choice=False,
        widget=CountrySelect(),
    )
    postcode = StringField(
        "Code postal",
        filters=[lambda v: v.strip().upper() if v else v],
        validators=[max_length(12), no_control_characters],
        render_kw={"autocomplete": "postal-code", "inputmode": "numeric"},
    )
    consent = BooleanField(
        validators=[required("Vous devez accepter ces conditions pour que votre signature compte.")]
    )
    optin_collective = BooleanField()
    website = Honeypot()
    # Where the signer came from (QR code, partner link): carried through the form.
    source = HiddenField()
    utm_source = HiddenField()
    utm_medium = HiddenField()
    utm_campaign = HiddenField()
    org = HiddenField()  # a member organisation's referral code
    rassemblement = HiddenField()  # the rally page the signer came from (its id)

    def validate_country(self, field: SelectField) -> None:
        if field.data not in country_codes():
            raise ValidationError("Choisissez un pays dans la liste.")

    def validate_postcode(self, field: StringField) -> None:
        if self.country.data != "FR":
            # Abroad: optional, any postal format, but nothing a spreadsheet would run.
            if field.data and not _FOREIGN_POSTCODE.match(field.data):
                raise ValidationError(
                    "Code postal invalide : lettres, chiffres, espaces et tirets seulement."
                )
            return
        if not field.data:
            raise ValidationError("Indiquez votre code postal (5 chiffres).")
        if departement_for_postcode(field.data) is None:
            raise ValidationError(
                "Code postal invalide : il faut 5 chiffres d’un code français, par exemple 75011."
            )

    tag_fields = ("source", "utm_source", "utm_medium", "utm_campaign", "org", "rassemblement")

    def tags(self) -> tuple[str | None, dict[str, str]]:
        """(source, referrer_data): `source` or else `utm_source`, plus every utm_* kept."""
        utm = {
            name: tag
            for name in ("utm_source", "utm_medium", "utm_campaign")
            if (tag := clean_tag(getattr(self, name).data))
        }
        return clean_tag(self.source.data) or utm.get("utm_source"), utm

    def to_input(self) -> SignatureInput:
        source, referrer_data = self.tags()
        return SignatureInput(
            first_name=self.first_name.data,
            last_name=self.last_name.data,
            email=self.email.data,
            country=self.country.data,
            postcode=self.postcode.data or None,
            optin_collective=bool(self.optin_collective.data),
            source=source,
            referrer_data=referrer_data,
            referral_code=clean_tag(self.org.data),
            rally_tag=clean_tag(self.rassemblement.data),
        )
