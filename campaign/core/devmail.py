"""Development only: read the emails the queue kept in instance/mail/ (no SMTP server)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

bp = Blueprint("devmail", __name__, url_prefix="/_dev/mail")


def _outbox() -> Path:
    return Path(current_app.config["MAIL_OUTBOX_DIR"])


@bp.get("/")
def index() -> str:
    files = sorted(_outbox().glob("*.eml"), reverse=True)[:100]
    messages = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        messages.append({"id": path.stem, "to": message["To"], "subject": message["Subject"]})
    return render_template("dev/mail_index.html", messages=messages)


@bp.get("/<message_id>")
def show(message_id: str) -> str:
    if not message_id.isalnum():
        abort(404)
    path = _outbox() / f"{message_id}.eml"
    if not path.exists():
        abort(404)
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",))
    return render_template(
        "dev/mail_show.html",
        to=message["To"],
        subject=message["Subject"],
        text=text.get_content() if text else "",
    )
