"""analysis/ stays pure: no streamlit, plotly, sqlalchemy, and no file or network I/O."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BANNED = {"streamlit", "plotly", "sqlalchemy", "requests", "urllib", "socket", "sqlite3",
          "psycopg", "kaleido", "openpyxl"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_analysis_imports_no_ui_db_or_network():
    files = sorted((ROOT / "analysis").rglob("*.py"))
    assert len(files) >= 10
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & BANNED) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_analysis_does_not_import_dashboard():
    for p in (ROOT / "analysis").rglob("*.py"):
        assert "dashboard" not in _imports(p), p


def test_analysis_opens_no_files_and_reads_no_clock():
    for p in (ROOT / "analysis").rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        for call in ("open(", "read_csv", "to_csv", ".today(", ".now(", "np.random.seed"):
            assert call not in text, f"{p.name} uses {call}"
