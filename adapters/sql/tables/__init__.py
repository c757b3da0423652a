"""Table definitions (SQLAlchemy Core), one module per product area, all on one MetaData
(base.py). The schema changes only through Alembic migrations; these definitions describe it
for queries and must match the latest migration (a test checks, over catalog.py)."""
