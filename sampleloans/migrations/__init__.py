"""Alembic migrations of the ledger's schema (shipped with the package; see docs/migrations.md)."""
