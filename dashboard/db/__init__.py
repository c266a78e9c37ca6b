"""Storage: SQLAlchemy 2 models, engine, migrations and the repository (no Streamlit here)."""

from dashboard.db.engine import database_url, make_engine
from dashboard.db.migrate import upgrade

__all__ = ["database_url", "make_engine", "upgrade"]
