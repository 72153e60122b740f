"""The public read API, /api/v1/ (views.py), and its OpenAPI description (spec.py)."""
