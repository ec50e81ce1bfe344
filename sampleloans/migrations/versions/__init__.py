"""Revisions, oldest first: each one only adds (docs/migrations.md)."""
