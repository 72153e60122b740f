"""The outbox: every email to send is a row, written in the transaction of what it is about.

A signature, an RSVP, an application and the row saying "mail this person" commit together
or not at all, so a Redis outage or a crashed worker can delay a mail but never lose it.
The request touches only the database. Then:

- the relay (core/relay.py, in `flask worker`) finds the due rows, marks them queued with a
  lease, and hands each id to the mail job;
- the mail job (`deliver`) claims its row, builds the message, sends it, marks it sent: a job
  run twice finds the row taken and sends nothing;
- a row whose job was lost (worker killed, queue flushed) comes due again when its lease
  ends; a failed send comes due again after a growing wait, and after MAX_ATTEMPTS it stays
  "failed", shown in the console.

A row's `kind` says how to build its message: "mail" carries the rendered message itself;
a domain registers its own kinds (`@handler("petition.notice")`) for mails decided in the
worker, such as the signing notice, whose content must not depend on the request.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypedDict

from flask import current_app
from prometheus_client.core import Metric
from sqlalchemy import (
    JSON,
    Index,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, Session, mapped_column

from campaign.core import metrics, requestlog
from campaign.core.db import (
    UTCDateTime,
    execute_autocommit,
    insert_ignoring_duplicate,
    str_enum,
    utcnow,
)
from campaign.core.requestlog import current_request_id
from campaign.extensions import db

logger = logging.getLogger(__name__)

CHANNEL = "campaign_outbox"  # PostgreSQL NOTIFY channel the relay listens on
# 8 tries, waiting 1, 2, 4 … 64 minutes: about two hours of SMTP outage absorbed.
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)  # MAIL_RETRY_SECONDS's default
# A handed-over row not sent within this time is handed over again (its job was lost).
LEASE = timedelta(seconds=90)
_NEW_ROWS = "campaign_outbox_rows"


class MailPayload(TypedDict):
    to: str
    subject: str
    text: str
    html: str


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the relay (new, or a retry after its wait)
    QUEUED = "queued"  # handed to the mail job; due again when the lease ends
    SENDING = "sending"  # a job has claimed it
    SENT = "sent"
    SKIPPED = "skipped"  # the worker decided there was nothing to send (see the kind)
    FAILED = "failed"  # MAX_ATTEMPTS failed sends: shown in the console


class OutboxMessage(db.Model):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_subject", "kind", "subject_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    # What the mail is about (a petition and an address…): allowances count rows by it.
    subject_key: Mapped[str | None] = mapped_column(String(400))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Known once the message is built (at once for "mail", in the worker for other kinds).
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(300))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The request that asked for the mail: its id is on the job's log lines too.
    request_id: Mapped[str | None] = mapped_column(String(64))


Handler = Callable[[dict[str, Any], datetime], MailPayload | None]
_handlers: dict[str, Handler] = {"mail": lambda payload, now: MailPayload(**payload)}  # type: ignore[typeddict-item]


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register how the worker builds the mail of `kind` rows; None means nothing to send."""

    def register(function: Handler) -> Handler:
        _handlers[kind] = function
        return function

    return register


def record(kind: str, payload: dict[str, Any], subject_key: str | None = None) -> OutboxMessage:
    """Add a mail to send to the caller's transaction (the caller commits)."""
    row = OutboxMessage(
        kind=kind, payload=payload, subject_key=subject_key, request_id=current_request_id()
    )
    if kind == "mail":
        row.recipient, row.subject = payload["to"][:320], payload["subject"][:300]
    db.session.add(row)
    db.session.info[_NEW_ROWS] = True
    return row


def row_values(kind: str, payload: dict[str, Any], subject_key: str, now: datetime) -> dict:
    """The columns of a new row, for callers that insert it with their own statement."""
    return {
        "kind": kind,
        "subject_key": subject_key,
        "payload": payload,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "request_id": current_request_id(),
    }


def recorded_since(kind: str, subject_key: str, since: datetime) -> int:
    """How many mails of `kind` about `subject_key` were asked for since `since`."""
    return db.session.execute(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.kind == kind,
            OutboxMessage.subject_key == subject_key,
            OutboxMessage.created_at > since,
        )
    ).scalar_one()


def insert_ignoring_with_mail(
    table: Table,
    unique: tuple[str, ...],
    values: dict[str, Any],
    kind: str,
    payload: dict[str, Any],
    subject_key: str,
) -> None:
    """INSERT … ON CONFLICT DO NOTHING of `values`, and an outbox row, atomically.

    The signing path: on PostgreSQL one statement, which also wakes the relay; run on an
    autocommit connection when the caller's session has no transaction open, that is one
    round trip (no BEGIN, no COMMIT, no pre-ping). Elsewhere, in the caller's transaction.
    The row is recorded whether or not the insert happened: the worker decides what the
    mailbox receives.
    """
    now = values.get("created_at") or utcnow()
    row = row_values(kind, payload, subject_key, now)
    if db.session.get_bind().dialect.name != "postgresql":
        insert_ignoring_duplicate(table, unique, values)
        db.session.execute(insert(OutboxMessage.__table__), row)
        db.session.info[_NEW_ROWS] = True
        return
    statement = _signing_statement(table, unique, tuple(values), _notices.due())
    params = {**values, **{f"outbox_{k}": v for k, v in row.items()}}
    if db.session().in_transaction():
        # The caller's transaction may hold rows this one needs: join it (it commits).
        db.session.execute(statement, params)
        db.session.info[_NEW_ROWS] = True
        return
    execute_autocommit(statement, params)
    _rows_committed()


NOTIFY_EVERY = 0.05


class _NoticeThrottle:
    """NOTIFY takes, at commit, a lock that serialises every notifying transaction of the
    database: a notice per signing cut a rush of signings by a fifth. So a process sends at
    most one per NOTIFY_EVERY seconds; the relay, after a round that found mails, looks
    again within relay.BUSY_SECONDS (> NOTIFY_EVERY) whether it was woken or not."""

    def __init__(self) -> None:
        self._last = -NOTIFY_EVERY

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < NOTIFY_EVERY:
            return False
        self._last = now  # two threads racing both notify: harmless
        return True


_notices = _NoticeThrottle()


@lru_cache(maxsize=16)
def _signing_statement(
    table: Table, unique: tuple[str, ...], columns: tuple[str, ...], notify: bool
) -> Any:
    """WITH s AS (INSERT … ON CONFLICT DO NOTHING), o AS (INSERT INTO outbox … RETURNING id)
    SELECT pg_notify(…) FROM o (or SELECT id): built once, compiled once (SQLAlchemy caches
    it)."""
    target = (
        postgresql.insert(table)
        .values({c: bindparam(c, type_=table.c[c].type) for c in columns})
        .on_conflict_do_nothing(index_elements=list(unique))
    )
    outbox_table = OutboxMessage.__table__
    mail = (
        insert(outbox_table)
        .values(
            {
                c: bindparam(f"outbox_{c}", type_=outbox_table.c[c].type)
                for c in row_values("", {}, "", utcnow())
            }
        )
        .returning(outbox_table.c.id)
        .cte("mail")
    )
    result = select(func.pg_notify(CHANNEL, "")).select_from(mail) if notify else select(mail.c.id)
    return result.add_cte(target.cte("target"))


@sa_event.listens_for(Session, "before_commit")
def _notify_relay(session: Session) -> None:
    # NOTIFY is transactional: the relay wakes when the rows are there to be read.
    if session.info.get(_NEW_ROWS) and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


_committed_hooks: list[Callable[[], None]] = []


def on_rows_committed(hook: Callable[[], None]) -> None:
    """Call `hook` after each commit that recorded mails (tests deliver them at once)."""
    _committed_hooks.append(hook)


def _rows_committed() -> None:
    for hook in _committed_hooks:
        hook()


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_NEW_ROWS, False):
        _rows_committed()


@sa_event.listens_for(Session, "after_rollback")
def _forget_rows(session: Session) -> None:
    session.info.pop(_NEW_ROWS, None)


# --- the relay's side ------------------------------------------------------------------------


def _due(now: datetime) -> Any:
    waiting = and_(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now
    )
    lost = and_(
        OutboxMessage.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
        OutboxMessage.lease_until < now,
    )
    return or_(waiting, lost)


# Ids per job: a job per mail made the queue (an enqueue, a dequeue, Redis round trips)
# cost as much as the mail; a few per job still spread a burst over every worker thread.
HAND_OVER_BATCH = 10


def hand_over(enqueue: Callable[..., None], now: datetime | None = None, limit: int = 500) -> int:
    """Mark up to `limit` due rows queued and give their ids to `enqueue`, HAND_OVER_BATCH
    at a time (`enqueue(*ids)`); commits. Rows whose enqueue fails go back to pending (the
    queue may be down): they are tried again on the relay's next round. Returns how many
    were handed over."""
    now = now or utcnow()
    query = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two relays never take the same rows
    ids = list(db.session.execute(query).scalars())
    if ids:
        # Only the rows still due: without row locks (SQLite), another relay may have taken
        # and sent some since the SELECT; queued again, they would be sent twice.
        ids = sorted(
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), _due(now))
                .values(status=OutboxStatus.QUEUED, lease_until=now + LEASE)
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
    db.session.commit()
    if not ids:
        return 0
    refused: list[int] = []
    for start in range(0, len(ids), HAND_OVER_BATCH):
        batch = ids[start : start + HAND_OVER_BATCH]
        try:
            enqueue(*batch)
        except Exception as exc:  # the queue's store is unreachable: keep the rows for later
            refused.extend(batch)
            error = exc
    if refused:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(refused), OutboxMessage.status == OutboxStatus.QUEUED)
            .values(status=OutboxStatus.PENDING, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        raise QueueUnavailableError(len(refused)) from error
    return len(ids)


class QueueUnavailableError(Exception):
    """The mail job could not be queued; the rows wait in the outbox."""


# --- the mail job's side ---------------------------------------------------------------------


def deliver(
    message_id: int, send: Callable[[MailPayload], None], now: datetime | None = None
) -> OutboxStatus | None:
    """Claim the row, build its mail, send it, record the outcome; None when another job has
    it or had it already. Commits: the claim first, so that a second job sends nothing."""
    return deliver_many([message_id], send, now).get(message_id)


def deliver_many(
    message_ids: Sequence[int], send: Callable[[MailPayload], None], now: datetime | None = None
) -> dict[int, OutboxStatus]:
    """`deliver` for a job's rows: claimed in one statement, then each sent and recorded
    on its own (a crash after a send leaves only that row to doubt). The rows another job
    has, or had, are left out of the answer."""
    now = now or utcnow()
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(message_ids),
            or_(
                OutboxMessage.status == OutboxStatus.QUEUED,
                # Pending: its enqueue seemed to fail yet the job exists. Not before its
                # time, though: a duplicate job must not cut a failed send's wait short.
                and_(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.next_attempt_at <= now,
                ),
            ),
        )
        .values(
            status=OutboxStatus.SENDING,
            attempts=OutboxMessage.attempts + 1,
            lease_until=now + LEASE,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.payload,
            OutboxMessage.attempts,
            OutboxMessage.request_id,
        )
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    outcomes: dict[int, OutboxStatus] = {}
    rows = sorted(claimed, key=lambda row: row.id)
    renewed = time.monotonic()
    for n, row in enumerate(rows):
        if time.monotonic() - renewed > LEASE.total_seconds() / 2:
            # A slow SMTP server: the rows still to send keep their claim, else the relay
            # would hand them to another job at lease end and they would leave twice.
            _renew_leases([r.id for r in rows[n:]])
            renewed = time.monotonic()
        with requestlog.acting_for(row.request_id):
            outcomes[row.id] = _send_claimed(
                row.id, row.kind, dict(row.payload), row.attempts, send, now
            )
    return outcomes


def _renew_leases(message_ids: list[int]) -> None:
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == OutboxStatus.SENDING)
        .values(lease_until=utcnow() + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _send_claimed(
    message_id: int,
    kind: str,
    payload: dict[str, Any],
    attempts: int,
    send: Callable[[MailPayload], None],
    now: datetime,
) -> OutboxStatus:
    mail: MailPayload | None = None
    try:
        build = _handlers.get(kind)
        if build is None:  # a row from a newer release, or a typo: fail it where it shows
            raise LookupError(f"no handler registered for outbox kind {kind!r}")
        # The handler's own writes (an allowance taken…) commit only with a sent mail.
        mail = build(payload, now)
        if mail is not None:
            send(mail)
    except Exception as exc:
        db.session.rollback()
        logger.warning(
            "Mail %s (%s) not sent, try %s: %s", message_id, kind, attempts, _kind_of_failure(exc)
        )
        return _failed_attempt(message_id, attempts, mail, exc, now)
    status = OutboxStatus.SENT if mail else OutboxStatus.SKIPPED
    done: dict[str, Any] = {"status": status, "sent_at": now, "lease_until": None}
    done["last_error"] = None
    if mail:
        done.update(recipient=mail["to"][:320], subject=mail["subject"][:300])
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(done)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    metrics.MAILS.labels(status.value).inc()
    return status


def _kind_of_failure(exc: Exception) -> str:
    """What failed, for the log, without the exception's text: that may carry the address
    ("550 <jeanne@…>: unknown user"). The full text is kept on the row, for the console."""
    code = getattr(exc, "smtp_code", None) or getattr(exc, "errno", None)
    refused = getattr(exc, "recipients", None)  # smtplib.SMTPRecipientsRefused: {address: …}
    if isinstance(refused, dict):
        code = ", ".join(sorted({str(reply[0]) for reply in refused.values() if reply}))
    name = type(exc).__name__
    return f"{name} ({code}), details on the row" if code else f"{name}, details on the row"


def first_retry() -> timedelta:
    """The wait after a first failed send; it doubles at each further failure."""
    return timedelta(seconds=current_app.config["MAIL_RETRY_SECONDS"])


def _failed_attempt(
    message_id: int, attempts: int, mail: MailPayload | None, exc: Exception, now: datetime
) -> OutboxStatus:
    final = attempts >= MAX_ATTEMPTS
    status = OutboxStatus.FAILED if final else OutboxStatus.PENDING
    values: dict[str, Any] = {
        "status": status,
        "lease_until": None,
        "next_attempt_at": now + first_retry() * 2 ** (attempts - 1),
        "last_error": f"{type(exc).__name__}: {exc}"[:2000],
    }
    if mail:
        values.update(recipient=mail["to"][:320], subject=mail["subject"][:300])
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    metrics.MAILS.labels("failed" if final else "retried").inc()
    return status


# --- the console's side ----------------------------------------------------------------------


def status_counts() -> dict[OutboxStatus, int]:
    rows = db.session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id)).group_by(OutboxMessage.status)
    )
    counts = dict.fromkeys(OutboxStatus, 0)
    counts.update({status: n for status, n in rows})
    return counts


# A mail in one of these states is still to send.
UNSENT = (OutboxStatus.PENDING, OutboxStatus.QUEUED, OutboxStatus.SENDING)


def oldest_waiting(now: datetime | None = None) -> datetime | None:
    """When the oldest mail still to send was asked for: a late one means a stuck worker."""
    return db.session.execute(
        select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(UNSENT))
    ).scalar_one()


@metrics.reading
def _figures() -> Iterable[Metric]:
    counts = status_counts()
    messages = metrics.gauge("campaign_outbox_messages", "Outbox rows by status", ["status"])
    for status, n in counts.items():
        messages.add_metric([status.value], n)
    backlog = metrics.gauge("campaign_outbox_backlog", "Mails still to send")
    backlog.add_metric([], sum(counts[s] for s in UNSENT))
    age = metrics.gauge(
        "campaign_outbox_oldest_unsent_seconds", "Age of the oldest mail still to send (0: none)"
    )
    oldest = oldest_waiting()
    age.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0)
    return [messages, backlog, age]


def failed(limit: int = 200) -> list[OutboxMessage]:
    return list(
        db.session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.FAILED)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        ).scalars()
    )


def retry(message_id: int | None = None) -> int:
    """Give failed mails (one, or all) a new series of tries, at once."""
    query = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)
    if message_id is not None:
        query = query.where(OutboxMessage.id == message_id)
    return db.session.execute(
        query.values(
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow()
        ).execution_options(synchronize_session=False)
    ).rowcount


def purge(now: datetime | None = None) -> int:
    """Drop sent and skipped rows after a week, failed ones after a month: they hold
    addresses and messages, kept only as long as they help."""
    now = now or utcnow()
    done = and_(
        OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.SKIPPED]),
        OutboxMessage.created_at < now - timedelta(days=7),
    )
    dead = and_(
        OutboxMessage.status == OutboxStatus.FAILED,
        OutboxMessage.created_at < now - timedelta(days=30),
    )
    return db.session.execute(OutboxMessage.__table__.delete().where(or_(done, dead))).rowcount
