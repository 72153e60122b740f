"""Deciding on an application or a rally proposal, from a form posted to the console's
moderation queues: the decision, the reason of a refusal, and what to tell the organiser.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import abort

from campaign.extensions import db
from campaign.organisations import services as organisation_services
from campaign.rallies import services as rally_services

REASON_NEEDED = "Indiquez le motif du refus : il est envoyé à l’organisation."
Outcome = tuple[str, str]  # (message, flash category): flash(*outcome)


def _decision(form: Mapping[str, str], yes: str, no: str) -> tuple[bool, str]:
    """(yes?, reason); any other decision is a 400."""
    decision = form.get("decision")
    if decision not in {yes, no}:
        abort(400)
    return decision == yes, form.get("reason", "")[:1000]


def decide_organisation(organisation_id: int, form: Mapping[str, str], by: str) -> Outcome:
    approve, reason = _decision(form, "approve", "reject")
    if not approve and not reason.strip():
        return REASON_NEEDED, "error"
    try:
        organisation = organisation_services.decide(organisation_id, approve, by, reason)
    except organisation_services.NotPendingError:
        return "Cette demande a déjà été traitée.", "error"
    db.session.commit()
    return f"Demande de « {organisation.name} » {'approuvée' if approve else 'refusée'}.", "success"


def decide_rally(rally_id: int, form: Mapping[str, str], by: str) -> Outcome:
    publish, reason = _decision(form, "publish", "refuse")
    if not publish and not reason.strip():
        return REASON_NEEDED, "error"
    try:
        rally = rally_services.decide(rally_id, publish, by, reason)
    except rally_services.NotProposedError:
        return "Cette proposition a déjà été traitée.", "error"
    except rally_services.PastRallyError:
        return "La date de ce rassemblement est passée : il ne peut plus être publié.", "error"
    db.session.commit()
    return f"Rassemblement de {rally.city} {'publié' if publish else 'refusé'}.", "success"
