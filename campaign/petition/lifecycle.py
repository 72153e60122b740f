"""A petition's steps: draft → open → closed → handed over, and back from closed to open.

Each step is one PetitionStatusChange, shown on the public page. Dates do the rest: an
open petition whose opening date is still ahead waits for it, and one whose closing date
has passed is closed for signing (models.phase_of) without anyone pressing a button.
Services flush and never commit; the console's view audits and commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from campaign.core.db import utcnow
from campaign.petition.models import Petition, PetitionStatus, PetitionStatusChange

DRAFT, OPEN, CLOSED, HANDED_OVER = (
    PetitionStatus.DRAFT,
    PetitionStatus.OPEN,
    PetitionStatus.CLOSED,
    PetitionStatus.HANDED_OVER,
)

# The legal steps, each with the button's words in the console.
STEPS: dict[tuple[PetitionStatus, PetitionStatus], str] = {
    (DRAFT, OPEN): "Ouvrir aux signatures",
    (OPEN, CLOSED): "Clore la pétition",
    (CLOSED, OPEN): "Rouvrir la pétition",
    (CLOSED, HANDED_OVER): "Enregistrer la remise",
}

LABELS = {
    DRAFT: "brouillon",
    OPEN: "ouverte",
    CLOSED: "close",
    HANDED_OVER: "remise",
}

MAX_NOTE = 2000


class IllegalStepError(ValueError):
    """The step is not one of STEPS from the petition's status; the message says why."""


@dataclass(frozen=True)
class Step:
    to: PetitionStatus
    by: str  # the organiser's name, shown on the public page
    note: str = ""
    handed_over_on: date | None = None  # required for HANDED_OVER


def next_steps(petition: Petition) -> list[tuple[PetitionStatus, str]]:
    """The steps open to the petition now, with their buttons' words."""
    return [(to, label) for (start, to), label in STEPS.items() if start is petition.status]


def step_problem(petition: Petition, step: Step) -> str | None:
    """Why the step cannot be taken, in French, or None."""
    if (petition.status, step.to) not in STEPS:
        return (
            f"Une pétition {LABELS[petition.status]} ne peut pas devenir {LABELS[step.to]}"
            " : l’ordre est brouillon, ouverte, close puis remise."
        )
    if step.to is OPEN and petition.closes_at and petition.closes_at <= utcnow():
        return (
            "Sa date de clôture est passée : reportez-la (dans « Modifier ») avant de la rouvrir."
        )
    if step.to is HANDED_OVER:
        if step.handed_over_on is None:
            return "Indiquez la date de la remise."
        if step.handed_over_on > utcnow().date():
            return "La remise ne peut pas être datée de demain : enregistrez-la une fois faite."
        if not step.note:
            return "Dites à qui et comment elle a été remise, par exemple « remise à … le … »."
    return None


def take(petition: Petition, step: Step) -> PetitionStatusChange:
    """Move the petition one step, recording it; IllegalStepError if it may not."""
    if problem := step_problem(petition, step):
        raise IllegalStepError(problem)
    change = PetitionStatusChange(
        from_status=petition.status.value,
        to_status=step.to.value,
        by=step.by,
        note=step.note.strip(),
        at=utcnow(),
    )
    petition.status_changes.append(change)
    petition.status = step.to
    if step.to is HANDED_OVER:
        petition.handed_over_on = step.handed_over_on
        petition.handover_note = step.note.strip()
    return change
