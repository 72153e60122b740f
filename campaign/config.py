"""Settings, read from environment variables (see the README's table).

Defaults suit `make run` on a laptop: SQLite in the instance folder, mail kept by the
queue in the instance folder, no other service. Production sets CAMPAIGN_ENV=production
(the default) and must then give a SECRET_KEY.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

# The repository checkout: templates/, static/ and migrations/ live beside the package.
ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    """Where the SQLite database, the queue and dev mail live (INSTANCE_PATH, or ./instance)."""
    return Path(os.environ.get("INSTANCE_PATH") or ROOT / "instance")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable application."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def normalise_database_url(url: str) -> str:
    """Let operators write postgres:// or postgresql:// and still get the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _dev_secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so dev sessions survive restarts."""
    key_file = instance / "dev-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _dev_totp_key(instance: Path) -> str:
    """Like the dev secret key: a Fernet key kept in the instance folder."""
    from cryptography.fernet import Fernet

    key_file = instance / "dev-totp-key"
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load_config(instance: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment, then apply overrides (tests)."""
    overrides = overrides or {}
    env = overrides.get("CAMPAIGN_ENV") or os.environ.get("CAMPAIGN_ENV", "production")
    if env not in {"production", "development", "testing"}:
        raise ConfigError(f"CAMPAIGN_ENV must be production, development or testing, not {env!r}")

    # Production has no sensible default: links in emails must name the real site.
    local_url = "" if env == "production" else "http://127.0.0.1:5000"
    public_url = os.environ.get("PUBLIC_URL", local_url).rstrip("/")
    mail_server = os.environ.get("MAIL_SERVER", "")
    config: dict[str, Any] = {
        "CAMPAIGN_ENV": env,
        "TESTING": env == "testing",
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        # Encrypts the console's TOTP secrets at rest (core/crypto.py), apart from the database.
        "TOTP_KEY": os.environ.get("TOTP_KEY", ""),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL", f"sqlite:///{instance / 'campaign.sqlite3'}")
        ),
        "PUBLIC_URL": public_url,
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        # Mail: without MAIL_SERVER the queue writes each message to instance/mail/ instead.
        "MAIL_SERVER": mail_server or "localhost",
        "MAIL_PORT": _int("MAIL_PORT", 587 if mail_server else 25),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool(os.environ.get("MAIL_USE_TLS"), default=bool(mail_server)),
        "MAIL_USE_SSL": _bool(os.environ.get("MAIL_USE_SSL")),
        "MAIL_DEFAULT_SENDER": os.environ.get(
            "MAIL_DEFAULT_SENDER", "Campagne <ne-pas-repondre@localhost>"
        ),
        "MAIL_SUPPRESS_SEND": not mail_server,
        "MAIL_OUTBOX_DIR": str(instance / "mail"),
        # After a failed send the mail is tried again this many seconds later, then twice
        # as late at each failure (8 tries: about two hours in all at the default).
        "MAIL_RETRY_SECONDS": _int("MAIL_RETRY_SECONDS", 60),
        # Mail-sending threads per `flask worker`: a send waits on SMTP and on the database
        # most of its time (bench exact: 2 threads ~155 s to drain the big day, 12: 65 s).
        # Each holds one SMTP connection: providers cap how many a sender may open.
        "QUEUE_THREADS": _int("QUEUE_THREADS", 8),
        # "json": one JSON object per log line (for a log collector); else plain text.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
        # /metrics answers a direct loopback peer, or anyone sending this bearer token.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
        # Trusted reverse proxies in front of the app (X-Forwarded-For hops to believe).
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        "SIGN_RATE_LIMIT": os.environ.get("SIGN_RATE_LIMIT", "20 per minute;300 per hour"),
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "300 per minute"),
        # A public form sent sooner than this after it was drawn is a script's (time trap).
        "FORM_MIN_SECONDS": _int("FORM_MIN_SECONDS", 2),
        "RATELIMIT_ENABLED": _bool(os.environ.get("RATELIMIT_ENABLED"), default=True),
        # If Redis is down, each worker counts in its own memory (Flask-Limiter logs the
        # switch and goes back to Redis when it answers); an error never blocks a signing.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # A signature link stays valid this long; after that the page offers a new one.
        "CONFIRMATION_TTL_HOURS": _int("CONFIRMATION_TTL_HOURS", 72),
        # A member organisation's management link works once, within this many hours.
        "MANAGE_LINK_HOURS": _int("MANAGE_LINK_HOURS", 48),
        # Pending signatures are deleted this many days after their link expired.
        "PURGE_UNCONFIRMED_DAYS": _int("PURGE_UNCONFIRMED_DAYS", 30),
        # Hot public pages are rendered at most this often per worker (core/pagecache.py).
        "PAGE_CACHE_SECONDS": _int("PAGE_CACHE_SECONDS", 5),
        # Public counts may be this many seconds old (per worker process cache).
        "COUNT_CACHE_SECONDS": _int("COUNT_CACHE_SECONDS", 2),
        # The organisers' console signs a session out after this many idle minutes.
        "CONSOLE_IDLE_MINUTES": _int("CONSOLE_IDLE_MINUTES", 30),
        "CONSOLE_LOGIN_RATE_LIMIT": os.environ.get(
            "CONSOLE_LOGIN_RATE_LIMIT", "10 per minute;50 per hour"
        ),
        # Map tiles of the rally finder: any {z}/{x}/{y} tile server, with its attribution.
        "MAP_TILES_URL": os.environ.get(
            "MAP_TILES_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        ),
        "MAP_ATTRIBUTION": os.environ.get(
            "MAP_ATTRIBUTION",
            '© les contributeurs d’<a href="https://www.openstreetmap.org/copyright">'
            "OpenStreetMap</a>",
        ),
        # A logo may be 2 MB (refused beside its field above that); whole requests 4 MB.
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 6 * 3600,
        # Every message is written in French in the forms: no WTForms catalogue to load
        # (Flask-WTF would parse it on every request).
        "WTF_I18N_ENABLED": False,
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        # hide_parameters: an error logged must not carry names and email addresses.
        # No pre-ping: it is a round trip per request. A connection found dropped
        # invalidates the pool (SQLAlchemy does it on a disconnect error) and the signing
        # statement is retried once (core/db.execute_autocommit).
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False, "hide_parameters": True},
    }
    config.update(overrides)
    # Derived from PUBLIC_URL after overrides, so a test or embedding app gets them right too.
    config["PUBLIC_URL"] = config["PUBLIC_URL"].rstrip("/")
    https = config["PUBLIC_URL"].startswith("https://")
    config.setdefault("PREFERRED_URL_SCHEME", "https" if https else "http")
    config.setdefault("SESSION_COOKIE_SECURE", https)

    _check(config)
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _dev_secret_key(instance)
    if not config["TOTP_KEY"]:
        config["TOTP_KEY"] = _dev_totp_key(instance)
    return config


def _check(config: dict[str, Any]) -> None:
    """Refuse to start a site that would run but fail its visitors."""
    env = config["CAMPAIGN_ENV"]
    if env != "development" and not config["SECRET_KEY"]:
        raise ConfigError(
            "SECRET_KEY is not set. Set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_hex(32))'), "
            "or set CAMPAIGN_ENV=development on a developer machine."
        )
    if env == "production":
        if not config["TOTP_KEY"]:
            raise ConfigError(
                "TOTP_KEY is not set: it encrypts the console's two-factor secrets. Make one "
                "with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())' and keep it out of the database backups."
            )
        if not config["PUBLIC_URL"]:
            raise ConfigError("PUBLIC_URL is not set: emails would carry links to localhost.")
        if config["MAIL_SUPPRESS_SEND"]:
            raise ConfigError("MAIL_SERVER is not set: confirmation emails could not be sent.")
    if config["TOTP_KEY"]:
        from campaign.core.crypto import BadKeyError, parse_keys

        try:
            parse_keys(config["TOTP_KEY"])
        except BadKeyError as exc:
            raise ConfigError(str(exc)) from exc
