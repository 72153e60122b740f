"""Error pages in French, for every error a visitor can cause."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, has_request_context, render_template, request
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from campaign.core import health
from campaign.core.security import CrossSiteRequestError, framed
from campaign.extensions import db

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

MESSAGES = {
    400: ("Requête invalide", "La demande envoyée n’a pas pu être comprise."),
    403: ("Accès refusé", "Vous n’avez pas accès à cette page."),
    404: ("Page introuvable", "Cette page n’existe pas ou n’est plus en ligne."),
    405: ("Méthode non autorisée", "Cette page ne s’utilise pas de cette façon."),
    413: ("Envoi trop volumineux", "Les données envoyées dépassent la taille autorisée."),
    429: (
        "Trop de demandes",
        "Vous avez envoyé trop de demandes en peu de temps. Merci de réessayer dans quelques "
        "minutes.",
    ),
    500: ("Erreur du serveur", "Une erreur inattendue s’est produite. Nous en sommes avertis."),
    503: (
        "Service momentanément indisponible",
        "Le site ne peut pas enregistrer de demande pour le moment. Réessayez dans une minute.",
    ),
}
UNAVAILABLE_FORM = (
    "Votre envoi n’a pas pu être enregistré : le site rencontre un incident passager. Rien "
    "n’est perdu, vos informations sont ci-dessous : renvoyez le formulaire dans une minute."
)
RETRY_AFTER_SECONDS = 30
CSRF_MESSAGE = (
    "Le formulaire a expiré ou n’a pas pu être vérifié. Revenez à la page précédente, "
    "rechargez-la et envoyez-le à nouveau."
)
# When even the error page cannot be rendered (no URL adapter after a bad Host header, a
# broken template), this plain page still answers in French instead of a bare 500.
_FALLBACK = (
    '<!doctype html><html lang="fr"><meta charset="utf-8"><title>{title}</title>'
    "<h1>{title}</h1><p>{message}</p></html>"
)
# Headers an error carries that the client needs (Allow on 405, Retry-After on 429).
KEPT_HEADERS = {"Allow", "Retry-After"}


def refill_on_outage(form_class: type[FlaskForm]) -> Callable[[F], F]:
    """If the database is unreachable while this view handles a POST, the 503 page shows
    the form again, filled with what was sent, to send once the site is back."""

    def mark(view: F) -> F:
        view.refill_form = form_class  # type: ignore[attr-defined]
        return view

    return mark


def _refilled_form() -> FlaskForm | None:
    if request.method != "POST" or request.endpoint is None:
        return None
    view = current_app.view_functions.get(request.endpoint)
    form_class = getattr(view, "refill_form", None)
    return form_class(formdata=request.form) if form_class else None


def database_unreachable(error: Exception) -> bool:
    """A lost or refused connection, not a bug in a query."""
    if isinstance(error, OperationalError | PoolTimeoutError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


ErrorRenderer = Callable[[int, str, str, dict[str, str]], Response]


def answer_under(app: Flask, prefix: str, render: ErrorRenderer) -> None:
    """Errors of the URLs under `prefix` (an API's) answered by `render(code, title,
    message, headers)` instead of the HTML page."""
    app.extensions.setdefault("error_renderers", []).append((prefix, render))


def _page(
    code: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    form: FlaskForm | None = None,
) -> Response:
    title, message = MESSAGES.get(code, MESSAGES[400] if code < 500 else MESSAGES[500])
    message = detail or message
    in_request = has_request_context()
    for prefix, render in current_app.extensions.get("error_renderers", ()):
        if in_request and request.path.startswith(prefix):
            return render(code, title, message, headers or {})
    try:
        body = render_template(
            "errors/error.html",
            code=code,
            title=title,
            message=message,
            form=form,
            framed=in_request and framed(),
        )
    except Exception:
        current_app.logger.exception("Error page could not be rendered")
        body = _FALLBACK.format(title=escape(title), message=escape(message))
    response = Response(body, code, mimetype="text/html")
    response.headers.extend(headers or {})
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        return _page(400, CSRF_MESSAGE)

    @app.errorhandler(CrossSiteRequestError)
    def cross_site(error: CrossSiteRequestError) -> Response:
        return _page(403, error.description)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        headers = {k: v for k, v in error.get_response().headers if k in KEPT_HEADERS}
        return _page(error.code or 500, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if database_unreachable(error):
            return _database_down(error)
        app.logger.exception("Unhandled error")
        return _page(500)


def _database_down(error: Exception) -> Response:
    """503 with Retry-After, the typed form given back; the cached pages go on being
    served meanwhile (core/pagecache)."""
    db.session.rollback()
    health.warn(log, "database-down", "Database unreachable: answering 503 (%s)", error)
    form = _refilled_form()
    detail = UNAVAILABLE_FORM if form is not None else None
    return _page(503, detail, {"Retry-After": str(RETRY_AFTER_SECONDS)}, form)
