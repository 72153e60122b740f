"""Consent wording shown beside the signing form. Each signature stores the version it saw.

Change the wording by adding a new version, never by editing an old one: the stored
version must keep meaning what the signer read.
"""

from __future__ import annotations

CONSENT_TEXTS: dict[str, str] = {
    "2026-11-v1": (
        "J’accepte que mes nom, prénom, adresse e-mail et code postal soient enregistrés par "
        "le collectif {collective} pour compter ma signature et la remettre au destinataire "
        "de la pétition. Ils ne sont ni vendus ni cédés. Je peux demander leur suppression à "
        "tout moment."
    ),
}
CURRENT_CONSENT_VERSION = "2026-11-v1"


def consent_text(collective_name: str, version: str = CURRENT_CONSENT_VERSION) -> str:
    return CONSENT_TEXTS[version].format(collective=collective_name)
