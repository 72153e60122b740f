"""Configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign import create_app
from campaign.config import ConfigError, load_config, normalise_database_url


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("CAMPAIGN_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_a_totp_key_that_is_not_fernet_keys_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="Fernet keys"):
        load_config(tmp_path, {"CAMPAIGN_ENV": "testing", "SECRET_KEY": "k", "TOTP_KEY": "x"})


def test_development_makes_and_keeps_its_own_key(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("CAMPAIGN_ENV", "development")
    first = load_config(tmp_path)["SECRET_KEY"]
    assert len(first) >= 32
    assert load_config(tmp_path)["SECRET_KEY"] == first


def test_settings_come_from_the_environment(monkeypatch, tmp_path: Path):
    env = {
        "CAMPAIGN_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "TOTP_KEY": "vQf2Lrj6x0bnWc8xbb3V2l1VhHlq7Ck2m3N3PZ0Yk8A=",
        "DATABASE_URL": "postgres://u:p@db.internal:5432/campaign",
        "MAIL_SERVER": "smtp.example.org",
        "MAIL_PORT": "2525",
        "MAIL_USERNAME": "user",
        "MAIL_PASSWORD": "pw",
        "MAIL_USE_TLS": "false",
        "MAIL_DEFAULT_SENDER": "Collectif <contact@example.org>",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "PUBLIC_URL": "https://petition.example.org/",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = load_config(tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal:5432/campaign"
    assert (config["MAIL_SERVER"], config["MAIL_PORT"]) == ("smtp.example.org", 2525)
    assert config["MAIL_USE_TLS"] is False
    assert config["MAIL_SUPPRESS_SEND"] is False
    assert config["PUBLIC_URL"] == "https://petition.example.org"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REDIS_URL"] == "redis://127.0.0.1:6379/3"


def test_defaults_need_no_other_service(monkeypatch, tmp_path: Path):
    for name in ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAMPAIGN_ENV", "development")
    config = load_config(tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'campaign.sqlite3'}"
    assert config["MAIL_SUPPRESS_SEND"] is True  # kept in instance/mail/ by the queue


def test_bad_numbers_are_reported_by_name(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CAMPAIGN_ENV", "development")
    monkeypatch.setenv("MAIL_PORT", "vingt-cinq")
    with pytest.raises(ConfigError, match="MAIL_PORT"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://a@h/db", "postgresql+psycopg://a@h/db"),
        ("postgresql://a@h/db", "postgresql+psycopg://a@h/db"),
        ("postgresql+psycopg://a@h/db", "postgresql+psycopg://a@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_get_the_psycopg_driver(url, expected):
    assert normalise_database_url(url) == expected


def test_an_https_public_url_makes_cookies_secure_even_when_given_as_an_override(tmp_path: Path):
    config = load_config(
        tmp_path,
        {
            "CAMPAIGN_ENV": "testing",
            "SECRET_KEY": "k",
            "PUBLIC_URL": "https://petition.example.org/",
        },
    )
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["PREFERRED_URL_SCHEME"] == "https"
    assert config["PUBLIC_URL"] == "https://petition.example.org"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY"),
        ("PUBLIC_URL", "PUBLIC_URL"),
        ("MAIL_SERVER", "MAIL_SERVER"),
        ("TOTP_KEY", "TOTP_KEY is not set"),
    ],
)
def test_production_refuses_settings_that_would_fail_visitors(
    monkeypatch, tmp_path: Path, missing, message
):
    env = {
        "CAMPAIGN_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "PUBLIC_URL": "https://petition.example.org",
        "MAIL_SERVER": "smtp.example.org",
        "TOTP_KEY": "vQf2Lrj6x0bnWc8xbb3V2l1VhHlq7Ck2m3N3PZ0Yk8A=",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_only_development_runs_without_a_secret_key(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(tmp_path, {"CAMPAIGN_ENV": "testing"})
