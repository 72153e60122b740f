"""Petitions: reading, signing, confirming by email, and counting."""
