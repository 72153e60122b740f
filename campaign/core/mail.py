"""Email: recorded in the outbox with the rows it is about, sent by the worker.

`queue_mail()` renders a French text + HTML pair and records it in the outbox
(core/outbox.py), in the caller's transaction: a rolled-back row takes its mail with it,
a committed one always gets it. The relay (core/relay.py) hands due rows to
`deliver_outbox`, which sends each once; a failed send is tried again later.
"""

from __future__ import annotations

import smtplib
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, render_template
from flask_mail import Message, email_dispatched
from huey import crontab

from campaign.core import outbox
from campaign.core.outbox import MailPayload
from campaign.core.queue import app_context, huey
from campaign.extensions import db, mail

__all__ = ["MailPayload", "deliver_outbox", "queue_mail", "render_mail", "send_now"]


def render_mail(to: str, subject: str, template: str, **context: Any) -> MailPayload:
    """`templates/mail/<template>.txt|.html`, rendered for `to`."""
    context.setdefault("subject", subject)
    return MailPayload(
        to=to,
        subject=subject,
        text=render_template(f"mail/{template}.txt", **context),
        html=render_template(f"mail/{template}.html", **context),
    )


def queue_mail(to: str, subject: str, template: str, **context: Any) -> MailPayload:
    """Render a mail and record it in the outbox; it leaves when the caller commits."""
    payload = render_mail(to, subject, template, **context)
    outbox.record("mail", dict(payload))
    return payload


# Each worker thread keeps its SMTP connection from one mail to the next: connecting,
# EHLO (and STARTTLS, login) for every mail made the big day's 20 000 mails take minutes.
_smtp = threading.local()


def _connection() -> Any:
    state = current_app.extensions["mail"]
    settings = (id(state), state.server, state.port, state.suppress)
    held = getattr(_smtp, "held", None)
    if held is None or held[0] != settings:
        _hang_up()
        _smtp.held = (settings, mail.connect().__enter__())
    return _smtp.held[1]


def _hang_up() -> None:
    held = getattr(_smtp, "held", None)
    _smtp.held = None
    if held is not None and held[1].host is not None:
        try:
            held[1].host.quit()
        except (smtplib.SMTPException, OSError):
            held[1].host.close()


def send_now(payload: MailPayload) -> None:
    message = Message(
        subject=payload["subject"],
        recipients=[payload["to"]],
        body=payload["text"],
        html=payload["html"],
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    try:
        try:
            _connection().send(message)
        except smtplib.SMTPServerDisconnected:
            # The server closed a connection left idle: once more on a fresh one.
            _hang_up()
            _connection().send(message)
    except Exception:
        _hang_up()  # whatever state the connection is in, the next mail starts afresh
        raise


# No retries of its own: a job that fails or is lost leaves its row due again (outbox.py).
@huey.task()
def deliver_outbox(*message_ids: int) -> None:
    with app_context():
        outbox.deliver_many(message_ids, send_now)


def hand_over_due() -> int:
    """One round of the relay: give every due outbox row to the mail job."""
    with app_context():
        return outbox.hand_over(deliver_outbox)


@huey.periodic_task(crontab(hour="4", minute="10"))
def purge_outbox() -> None:
    with app_context():
        outbox.purge()
        db.session.commit()


def _deliver_at_once_in_tests() -> None:
    # In production the relay wakes on NOTIFY or polls; tests run the queue immediately.
    if huey.immediate:
        hand_over_due()


outbox.on_rows_committed(_deliver_at_once_in_tests)


def _write_to_outbox(app: Flask, message: Message) -> None:
    """Development without SMTP: keep each message as an .eml file to read in the browser."""
    folder = Path(app.config["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    (folder / f"{stamp}.eml").write_bytes(message.as_bytes())


def init_app(app: Flask) -> None:
    if app.testing:
        # Tasks run in the caller's thread; Flask-Mail records instead of sending.
        huey.immediate = True
    elif app.config["CAMPAIGN_ENV"] == "development" and app.config["MAIL_SUPPRESS_SEND"]:
        email_dispatched.connect(_write_to_outbox, sender=app, weak=False)
