"""The mail outbox (core/outbox.py) in the console: do the mails go out, and what failed.

Organisers and admins see how many mails are in each state, how long the oldest one still
to send has waited and the failed ones (kind, when, attempts, error), never an address in
full: the recipient and any address in the error text are masked (« j…@example.org »).
Only admins retry, one failed mail or all of them: that sends mails to people, once the
cause (an SMTP password, a full quota) is fixed. Each retry is audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Response, flash, redirect, render_template, url_for

from campaign.console import auth
from campaign.console.auth import requires
from campaign.console.blueprint import bp
from campaign.console.models import Role
from campaign.core import outbox, workers
from campaign.core.db import utcnow
from campaign.core.outbox import OutboxStatus
from campaign.core.templating import thousands
from campaign.extensions import db

STATUS_LABELS = {
    OutboxStatus.PENDING: "en attente",
    OutboxStatus.QUEUED: "confié au service d’envoi",
    OutboxStatus.SENDING: "en cours d’envoi",
    OutboxStatus.SENT: "envoyé",
    OutboxStatus.SKIPPED: "sans objet",
    OutboxStatus.FAILED: "échec",
}
LATE = timedelta(minutes=15)  # a mail still to send after this: the worker is stuck or down
SHOWN = 100  # failed mails listed, the most recent first
_ADDRESS = re.compile(r"[^\s<>\"'(),;:@\[\]]+@[^\s<>\"'(),;:@\[\]]+")


def mask(address: str | None) -> str:
    """« jeanne@example.org » -> « j…@example.org »; « … » for anything else."""
    local, at, domain = (address or "").rpartition("@")
    return f"{local[0]}…@{domain}" if local and at and domain else "…"


def masked(text: str | None) -> str:
    """An error text with every address in it masked (an SMTP refusal quotes the address)."""
    return _ADDRESS.sub(lambda match: mask(match.group(0)), text or "")


def in_words(delta: timedelta) -> str:
    """« moins d’une minute », « 3 min », « 2 h 05 », « 3 jours »."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "moins d’une minute"
    if minutes < 60:
        return f"{minutes}\u00a0min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}\u00a0h\u00a0{minutes:02d}" if minutes else f"{hours}\u00a0h"
    days = hours // 24
    return f"{days}\u00a0jour{'s' if days > 1 else ''}"


@dataclass(frozen=True)
class Health:
    """The outbox at a glance: counts per status and the oldest mail still to send."""

    counts: dict[OutboxStatus, int]
    oldest: datetime | None  # when the oldest mail still to send was asked for
    workers: workers.Workers = workers.NONE
    now: datetime = field(default_factory=utcnow)

    @property
    def waited(self) -> timedelta | None:
        return self.now - self.oldest if self.oldest else None

    @property
    def problems(self) -> list[str]:
        """What is wrong, in French; empty when the mails go out."""
        found = []
        backlog = sum(self.counts[s] for s in outbox.UNSENT)
        if self.workers.alive == 0 and (backlog or self.workers.last_seen is not None):
            found.append(
                "Aucun service d’envoi (flask worker) n’a encore tourné : "
                "les e-mails attendent qu’il démarre."
                if self.workers.last_seen is None
                else "Aucun service d’envoi (flask worker) n’a donné signe de vie depuis "
                f"{in_words(self.now - self.workers.last_seen)} : "
                "les e-mails attendent qu’il reparte."
            )
        if self.waited is not None and self.waited > LATE:
            found.append(
                f"Des e-mails attendent depuis plus de {in_words(LATE)} (le plus ancien depuis "
                f"{in_words(self.waited)}) : le service d’envoi (flask worker) tourne-t-il ?"
            )
        if failed := self.counts[OutboxStatus.FAILED]:
            plural = "s" if failed > 1 else ""
            found.append(
                f"{thousands(failed)} e-mail{plural} en échec après {outbox.MAX_ATTEMPTS} "
                f"essais : corrigez la cause, puis relancez-le{plural}."
            )
        return found


def health() -> Health:
    return Health(
        counts=outbox.status_counts(), oldest=outbox.oldest_waiting(), workers=workers.state()
    )


@bp.get("/envois")
@requires(Role.ORGANISER)
def outbox_overview() -> str:
    return render_template(
        "console/outbox.html",
        health=health(),
        failed=outbox.failed(limit=SHOWN),
        labels=STATUS_LABELS,
        max_attempts=outbox.MAX_ATTEMPTS,
        mask=mask,
        masked=masked,
        in_words=in_words,
    )


def _retried(message_id: int | None) -> Response:
    count = outbox.retry(message_id)
    if count:
        what = "tous les e-mails en échec" if message_id is None else f"e-mail {message_id}"
        auth.audit("outbox.retry", what=what, rows=count)
        plural = "s" if count > 1 else ""
        flash(
            f"{thousands(count)} e-mail{plural} relancé{plural} : départ dans la minute.", "success"
        )
    else:
        flash("Aucun e-mail à relancer : déjà relancé ou envoyé entre-temps.", "info")
    db.session.commit()
    return redirect(url_for("console.outbox_overview"), code=303)


@bp.post("/envois/relancer")
@requires(Role.ADMIN)
def retry_all() -> Response:
    return _retried(None)


@bp.post("/envois/<int:message_id>/relancer")
@requires(Role.ADMIN)
def retry_one(message_id: int) -> Response:
    return _retried(message_id)
