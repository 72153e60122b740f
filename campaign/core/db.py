"""Database helpers shared by the domain models."""

from __future__ import annotations

import enum
import queue
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache, wraps
from typing import Any, TypeVar

from sqlalchemy import DateTime, Enum, Table, delete, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import Pool
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator

from campaign.core.tokens import hash_token
from campaign.extensions import db

F = TypeVar("F", bound=Callable[..., Any])


def retry_on_dropped_connection(view: F) -> F:
    """Run `view` again, once, when its connection turned out dead (the database restarted
    since the pool last used it). The pool does not ping before each use; SQLAlchemy
    drops every older connection on such an error, so the second run gets a fresh one.
    Safe for views whose only effects are in the rolled-back transaction, or idempotent
    statements (the signing's INSERT … ON CONFLICT DO NOTHING)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            db.session.rollback()
            return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session loaded: the page rendered next shows what
    the request read and wrote, instead of reading each object again (a query apiece)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def utcnow() -> datetime:
    return datetime.now(UTC)


def str_enum(cls: type[enum.Enum], name: str) -> Enum:
    """A column of a StrEnum, stored by value (a PostgreSQL enum type named `name`)."""
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database.

    SQLite keeps no time zone, so values are stored as naive UTC and made aware again
    on the way out; PostgreSQL gets a real `timestamp with time zone`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL lets readers go on while one request writes; foreign keys are off by default."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def delete_by_token(model: Any, token: str, *returning: Any) -> Any:
    """Delete the row behind an emailed link; its `returning` columns, or None.

    One DELETE … RETURNING decides: of two simultaneous clicks only one deletes the row.
    """
    if not token or len(token) > 100:
        return None
    return db.session.execute(
        delete(model)
        .where(model.token_hash == hash_token(token))
        .returning(*returning)
        .execution_options(synchronize_session=False)
    ).first()


@lru_cache(maxsize=16)
def _insert_ignoring(table: Table, unique: tuple[str, ...], dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(unique))


def insert_ignoring_duplicate(
    table: Table, unique: tuple[str, ...], values: dict[str, Any]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: the unique constraint decides, even under a race,
    without aborting the transaction. True when a row was inserted. The statement is
    built once per table: signing is the hottest write of the site."""
    dialect = db.session.get_bind().dialect.name
    return db.session.execute(_insert_ignoring(table, unique, dialect), values).rowcount == 1


class _KeptConnections:
    """Autocommit connections kept between statements, for any thread to take: a checkout
    from the pool, with its isolation level set and reset, cost more CPU than the statement.
    There are as many as statements ever ran at once in the process."""

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[tuple[Connection, Pool]] = queue.SimpleQueue()

    def take(self, engine: Engine) -> Connection:
        while True:
            try:
                connection, pool = self._idle.get_nowait()
            except queue.Empty:
                return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if pool is engine.pool and not connection.invalidated:
                return connection
            _discard(connection)  # engine.dispose() replaced its pool

    def give_back(self, connection: Connection, engine: Engine) -> None:
        self._idle.put((connection, engine.pool))

    def drop_idle(self) -> None:
        """One was found dead (the database restarted): so are the others."""
        while True:
            try:
                connection, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            _discard(connection)


def _discard(connection: Connection) -> None:
    # Closed, not handed back: returned to a replaced pool it would stay open there.
    connection.invalidate()
    connection.close()


_kept = _KeptConnections()


def execute_autocommit(statement: Any, params: dict[str, Any]) -> Any:
    """Run one statement in autocommit: one round trip, no BEGIN/COMMIT, on a kept
    connection. Nothing pings it before use (a round trip per request); found dropped (the
    database restarted), the statement is retried once on a fresh one.
    """
    engine = db.engine
    for attempt in (1, 2):
        connection = _kept.take(engine)
        try:
            rows = connection.execute(statement, params).all()
        except DBAPIError as exc:
            connection.close()
            if attempt == 2 or not exc.connection_invalidated:
                raise
            _kept.drop_idle()  # the retry gets a new connection
            continue
        except BaseException:
            connection.close()
            raise
        _kept.give_back(connection, engine)
        return rows
    raise AssertionError("unreachable")
