"""Every model, imported together so that SQLAlchemy's metadata, and so Alembic, knows them all."""

from campaign.content.models import Collective, Demand, KeyFigure
from campaign.organisations.models import ModerationDecision, Organisation
from campaign.petition.models import Petition, Signature, SignatureCountDelta

__all__ = [
    "Collective",
    "Demand",
    "KeyFigure",
    "ModerationDecision",
    "Organisation",
    "Petition",
    "Signature",
    "SignatureCountDelta",
]
