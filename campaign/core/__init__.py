"""Pieces every domain shares: database types, the mail queue, URLs, security, validation."""
