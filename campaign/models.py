"""Every model, imported together so that SQLAlchemy's metadata, and so Alembic, knows them all."""

from campaign.console.models import AuditEntry, Organiser, PaperSignatures
from campaign.content.models import Collective, Demand, KeyFigure
from campaign.core.outbox import OutboxMessage
from campaign.core.workers import WorkerBeat
from campaign.organisations.models import ModerationDecision, Organisation
from campaign.petition.models import Petition, Signature, SignatureCountDelta
from campaign.rallies.models import MobilisationDay, Rally, Rsvp

__all__ = [
    "AuditEntry",
    "Collective",
    "Demand",
    "KeyFigure",
    "MobilisationDay",
    "ModerationDecision",
    "Organisation",
    "Organiser",
    "OutboxMessage",
    "PaperSignatures",
    "Petition",
    "Rally",
    "Rsvp",
    "Signature",
    "SignatureCountDelta",
    "WorkerBeat",
]
