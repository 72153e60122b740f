"""Error pages in French, for every error a visitor can cause."""

from __future__ import annotations

from flask import Flask, Response, current_app, render_template
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

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
}
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
_KEPT_HEADERS = {"Allow", "Retry-After"}


def _page(code: int, detail: str | None = None, headers: dict[str, str] | None = None) -> Response:
    title, message = MESSAGES.get(code, MESSAGES[400] if code < 500 else MESSAGES[500])
    message = detail or message
    try:
        body = render_template("errors/error.html", code=code, title=title, message=message)
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

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        headers = {k: v for k, v in error.get_response().headers if k in _KEPT_HEADERS}
        return _page(error.code or 500, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        app.logger.exception("Unhandled error")
        return _page(500)
