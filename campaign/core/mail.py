"""Email: rendered during the request, queued after the commit, sent by the worker.

`queue_mail()` renders a French text + HTML pair and defers it (core/queue.py): only
when the database session commits does the message go to the queue, so no mail ever
speaks of a row that was rolled back. The worker sends it with retries and back-off,
so an SMTP outage delays mail and loses none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from flask import Flask, current_app, render_template
from flask_mail import Message, email_dispatched

from campaign.core.queue import app_context, defer, huey
from campaign.extensions import mail


class MailPayload(TypedDict):
    to: str
    subject: str
    text: str
    html: str


def queue_mail(to: str, subject: str, template: str, **context: Any) -> MailPayload:
    """Render `templates/mail/<template>.txt|.html` and send it once the session commits."""
    context.setdefault("subject", subject)
    payload = MailPayload(
        to=to,
        subject=subject,
        text=render_template(f"mail/{template}.txt", **context),
        html=render_template(f"mail/{template}.html", **context),
    )
    defer(deliver_mail, payload)
    return payload


# 8 tries, waiting 1, 2, 4 … 64 minutes: about two hours of SMTP outage absorbed.
@huey.task(retries=7, retry_delay=60, retry_backoff=2)
def deliver_mail(payload: MailPayload) -> None:
    with app_context():
        message = Message(
            subject=payload["subject"],
            recipients=[payload["to"]],
            body=payload["text"],
            html=payload["html"],
            sender=current_app.config["MAIL_DEFAULT_SENDER"],
        )
        mail.send(message)


def _write_to_outbox(app: Flask, message: Message) -> None:
    """Development without SMTP: keep each message as an .eml file to read in the browser."""
    outbox = Path(app.config["MAIL_OUTBOX_DIR"])
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    (outbox / f"{stamp}.eml").write_bytes(message.as_bytes())


def init_app(app: Flask) -> None:
    if app.testing:
        # Tasks run in the caller's thread; Flask-Mail records instead of sending.
        huey.immediate = True
    elif app.config["CAMPAIGN_ENV"] == "development" and app.config["MAIL_SUPPRESS_SEND"]:
        email_dispatched.connect(_write_to_outbox, sender=app, weak=False)
