"""Error pages in French, for every error a visitor can cause."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
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


def _page(code: int, detail: str | None = None) -> tuple[str, int]:
    title, message = MESSAGES.get(code, MESSAGES[400] if code < 500 else MESSAGES[500])
    return render_template(
        "errors/error.html", code=code, title=title, message=detail or message
    ), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return _page(
            400,
            "Le formulaire a expiré ou n’a pas pu être vérifié. Revenez à la page précédente, "
            "rechargez-la et envoyez-le à nouveau.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        return _page(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        app.logger.exception("Unhandled error")
        return _page(500)
