"""campaign: a mobilisation and petition platform for a coalition of organisations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, has_request_context, request
from werkzeug.routing import IntegerConverter, Map

from campaign.config import ROOT, instance_path, load_config
from campaign.extensions import babel, csrf, db, limiter, mail, migrate

# Languages with a complete interface; English joins once its catalogue is translated.
LANGUAGES = ["fr"]


class DatabaseId(IntegerConverter):
    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def _locale() -> str:
    # The queue worker renders emails with no request: they are in the site's language.
    if not has_request_context():
        return LANGUAGES[0]
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(instance_path()),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    # <int:…> in a URL matches only ids a database column can hold: a 20-digit id is a 404,
    # not an overflow error (a 500) in the query.
    app.url_map.converters["int"] = DatabaseId
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(load_config(Path(app.instance_path), config))
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")

    from campaign import models  # noqa: F401  (every table in the metadata, for Alembic)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    mail.init_app(app)
    babel.init_app(app, locale_selector=_locale)
    limiter.init_app(app)

    from campaign.core import (
        errors,
        metrics,
        pagecache,
        probes,
        requestlog,
        security,
        staticfiles,
        templating,
    )
    from campaign.core import mail as mail_queue

    mail_queue.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    templating.init_app(app)
    staticfiles.init_app(app)

    from campaign import cli
    from campaign.api import views as api
    from campaign.console import (  # noqa: F401  (routes)
        collective,
        dashboard,
        days,
        dossier,
        exports,
        opendata,
        outbox,
        petitions,
        views,
    )
    from campaign.console.blueprint import bp as console_bp
    from campaign.content.views import bp as content_bp
    from campaign.kits.fastpath import KitFastPath
    from campaign.kits.views import bp as kits_bp
    from campaign.organisations.views import bp as organisations_bp
    from campaign.petition import tasks as petition_tasks  # noqa: F401  (outbox handlers, jobs)
    from campaign.petition.views import bp as petition_bp
    from campaign.petition.widget import bp as widget_bp
    from campaign.rallies import tasks as rally_tasks  # noqa: F401
    from campaign.rallies.manage_views import bp as rally_admin_bp
    from campaign.rallies.views import bp as rallies_bp

    app.register_blueprint(content_bp)
    app.register_blueprint(petition_bp)
    app.register_blueprint(widget_bp)
    app.register_blueprint(organisations_bp)
    app.register_blueprint(rallies_bp)
    app.register_blueprint(rally_admin_bp)
    app.register_blueprint(kits_bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(opendata.bp)
    app.register_blueprint(probes.bp)
    api.init_app(app)
    metrics.init_app(app)
    app.wsgi_app = KitFastPath(  # type: ignore[method-assign]
        app.wsgi_app, app.config["PAGE_CACHE_SECONDS"]
    )
    pagecache.init_app(app)  # a cached page costs no more than this…
    requestlog.init_app(app)  # …and is logged all the same
    cli.init_app(app)
    if app.config["CAMPAIGN_ENV"] == "development":
        from campaign.core.devmail import bp as devmail_bp

        app.register_blueprint(devmail_bp)
    return app
