"""Shared fixtures: one app per session on a freshly migrated database, emptied after each test.

TEST_DATABASE_URL picks the database (the Makefile sets it to DATABASE_URL for the
PostgreSQL run); without it, a SQLite file in a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

# The queue is built when campaign is imported: keep its SQLite file out of instance/.
os.environ["QUEUE_DB_PATH"] = os.path.join(tempfile.mkdtemp(), "queue.sqlite3")
# Uploads and the like go to a throwaway instance folder, not the checkout's.
os.environ["INSTANCE_PATH"] = tempfile.mkdtemp()
os.environ.pop("REDIS_URL", None)
from flask import Flask
from flask.testing import FlaskClient
from flask_mail import Message, email_dispatched
from flask_migrate import upgrade
from sqlalchemy import inspect, text

from campaign import create_app
from campaign.config import normalise_database_url
from campaign.core.queue import huey
from campaign.extensions import db, limiter
from campaign.petition import counting, services
from campaign.rallies import services as rally_services
from tests.factories import SECRET_KEY, make_petition, notice_due

PUBLIC_URL = "https://petition.example.org"


def _drop_everything() -> None:
    """Start from an empty database, whatever an earlier run left behind.

    Only on a database whose name says it is for tests: `make test` reuses DATABASE_URL,
    which must never be a real one.
    """
    engine = db.engine
    name = engine.url.database or ""
    if engine.dialect.name != "sqlite" and "test" not in name:
        pytest.exit(f"Refusing to empty database {name!r}: its name must contain 'test'.", 2)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        db.drop_all()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


class SameOriginClient(FlaskClient):
    """A browser on one of the site's own pages: it says so (Sec-Fetch-Site), as every
    current browser does. The cross-site tests send other headers, or use FlaskClient."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base.setdefault("HTTP_SEC_FETCH_SITE", "same-origin")


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(
        {
            "CAMPAIGN_ENV": "testing",
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PUBLIC_URL": PUBLIC_URL,
            # The test client speaks plain http to localhost (it takes its scheme from
            # PREFERRED_URL_SCHEME); an https PUBLIC_URL would otherwise make both https.
            "SESSION_COOKIE_SECURE": False,
            "PREFERRED_URL_SCHEME": "http",
            "COUNT_CACHE_SECONDS": 0,
            "PAGE_CACHE_SECONDS": 0,
            # Jobs run immediately in tests, from inside the request's commit, on a second
            # connection: the race tests' 20 threads need twice the usual pool.
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_pre_ping": False,
                "hide_parameters": True,
                "pool_size": 20,
                "max_overflow": 30,
            },
            "MAIL_SUPPRESS_SEND": True,
            "MAIL_DEFAULT_SENDER": "Les 400 000 <contact@petition.example.org>",
            # Tests sign many times from one address; rate-limit tests lower it themselves.
            "SIGN_RATE_LIMIT": "10000 per minute",
            # Tests post a form as soon as they have it; the time trap's tests set it.
            "FORM_MIN_SECONDS": 0,
            # As behind one reverse proxy: X-Forwarded-For gives the client address.
            "PROXY_COUNT": 1,
        }
    )
    app.test_client_class = SameOriginClient
    with app.app_context():
        _drop_everything()
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_database(app: Flask) -> Iterator[None]:
    yield
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                db.session.execute(text(f"DELETE FROM {name}"))  # noqa: S608 (our table names)
        db.session.commit()
    counting.forget_cached()
    app.extensions["pagecache"].forget()
    services._refs.forget()
    rally_services._visible_ids.forget()
    limiter.reset()
    notice_due()  # each test's first signing notifies


@pytest.fixture(autouse=True)
def _postgres_only(request: pytest.FixtureRequest, database_url: str) -> None:
    """@pytest.mark.postgres_only: races that SQLite serialises anyway."""
    if request.node.get_closest_marker("postgres_only") and "postgresql" not in database_url:
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL)")


@pytest.fixture
def slug(app: Flask) -> str:
    """An open petition's slug."""
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    return slug


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An app context for tests that call services directly."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def outbox() -> Iterator[list[Message]]:
    """Every email the queue hands to Flask-Mail during the test."""
    messages: list[Message] = []

    def record(app: Flask, message: Message) -> None:
        messages.append(message)

    email_dispatched.connect(record)
    yield messages
    email_dispatched.disconnect(record)


@pytest.fixture
def durable_queue() -> Iterator[None]:
    """The queue as in production (SQLite storage, a separate consumer), not immediate."""
    huey.immediate = False
    huey.flush()
    yield
    huey.flush()
    huey.immediate = True


@pytest.fixture
def is_postgres(app: Flask) -> bool:
    with app.app_context():
        return inspect(db.engine).dialect.name == "postgresql"
