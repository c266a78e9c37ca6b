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


#: Streamlit is imported only by the pages and the UI modules around them.
UI_MODULES = {"dashboard/auth.py", "dashboard/state.py", "dashboard/data.py",
              "dashboard/components.py", "streamlit_app.py"}


def test_only_pages_and_ui_modules_import_streamlit():
    files = [*(ROOT / "dashboard").rglob("*.py"), ROOT / "streamlit_app.py"]
    users = {str(p.relative_to(ROOT)) for p in files if "streamlit" in _imports(p)}
    allowed = {u for u in users if u.startswith("dashboard/pages/")} | UI_MODULES
    assert users <= allowed, sorted(users - allowed)
    for pure in ("dashboard/views.py", "dashboard/charts.py", "dashboard/labels.py"):
        assert pure not in users


def test_charts_decide_nothing():
    """Chart builders draw decided view objects: they compute no rate or curve and withhold
    nothing themselves (dashboard.views decides, from analysis.suppression)."""
    text = (ROOT / "dashboard" / "charts.py").read_text(encoding="utf-8")
    for call in ("withhold_", "pool_small_groups", "summarize_", "kaplan_meier", "min_cell_size <",
                 "< min_cell_size", "suppress_below", "wilson_interval", "logrank_test"):
        assert call not in text, f"charts.py uses {call}"
    for module in ("dashboard/exports/report.py", "dashboard/exports/tables.py",
                   "dashboard/pages/overview.py", "dashboard/pages/export.py"):
        body = (ROOT / module).read_text(encoding="utf-8")
        for call in ("withhold_rates(", "withhold_counts(", "summarize_rates(",
                     "summarize_survival("):
            assert call not in body, f"{module} decides with {call} (use dashboard.views)"


def test_one_carrier_for_the_settings():
    """Pages, the CLI, exports and the report take the settings in force from
    dashboard.config; none builds its own Settings() (a copy could silently differ), and no
    analysis result carries a copy in DataFrame.attrs."""
    files = [*(ROOT / "dashboard").rglob("*.py"), ROOT / "streamlit_app.py"]
    builders = sorted(str(p.relative_to(ROOT)) for p in files
                      if "Settings()" in "\n".join(
                          line for line in p.read_text(encoding="utf-8").splitlines()
                          if not line.strip().startswith((">>>", "..."))))  # doctests may
    assert builders == ["dashboard/config.py"], builders
    for p in (ROOT / "analysis").rglob("*.py"):
        assert ".attrs[" not in p.read_text(encoding="utf-8"), p


def test_safety_figures_are_decided_in_the_views():
    """The Safety page, the export and the report draw safety rates from the SafetyView; they
    compute none themselves."""
    for module in ("dashboard/pages/safety.py", "dashboard/exports/report.py",
                   "dashboard/exports/tables.py", "dashboard/charts.py"):
        body = (ROOT / module).read_text(encoding="utf-8")
        for call in ("safety_rates(", "withhold_rates(", "clustered_wilson("):
            assert call not in body, f"{module} decides with {call} (use dashboard.views)"
