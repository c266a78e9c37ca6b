"""Data: upload clinic files, preview the validation report, import; history; completeness."""

import hashlib
import logging

import pandas as pd
import streamlit as st

from dashboard import auth, components, data, security
from dashboard.config import settings_in_force
from dashboard.db.models import IMPORT_KINDS
from dashboard.exports.tables import to_csv_bytes
from dashboard.labels import md

log = logging.getLogger(__name__)
settings = settings_in_force()
url = data.current_url()
if not security.can_import(auth.current_user()):
    st.error("Your role does not include imports.")
    st.stop()
st.title("Data")
st.caption("CSV (UTF-8, comma or semicolon), XLSX or FHIR JSON/NDJSON. Each file imports whole or "
           "not at all; rows already stored are skipped; nothing stored is ever overwritten.")

job = data.background_rebuild(url, settings)   # its progress is on every page
if job is not None and job.error and st.button("Rebuild the stored outcomes",
                                               key="data_rebuild"):
    data.rebuild_again(url, settings, actor=auth.actor())
    st.rerun()

uploads = st.file_uploader("Clinic files", accept_multiple_files=True,
                           key=f"data_upload_{st.session_state.get('data_round', 0)}",
                           type=["csv", "xlsx", "json", "ndjson"])
left, right = st.columns(2)
kind = left.selectbox("File holds", ["detect from headers", *IMPORT_KINDS], key="data_kind")
order = right.selectbox("Slash dates (e.g. 04/03/2025) are", ["not allowed (ISO only)",
                                                              "day first", "month first"],
                        key="data_date_order")
options = dict(kind=None if kind.startswith("detect") else kind,
               date_order={"day first": "dayfirst", "month first": "monthfirst"}.get(order, "iso"))
done = st.session_state.pop("data_done", None)
if done:
    for report in done:
        components.import_report(report)


def _preview(name: str, content: bytes):
    """The dry-run report of one upload, kept per file content and options (a rerun does not
    validate the file again); an unexpected failure becomes a message, never a traceback."""
    key = ("data_preview", hashlib.sha256(content).hexdigest(), name, tuple(options.items()))
    cache = st.session_state.setdefault("data_previews", {})
    if key not in cache:
        try:
            cache[key] = data.preview_import(url, name, content, **options)
        except Exception as exc:  # noqa: BLE001 - one bad file must not block the others
            log.error("preview failed: %s", type(exc).__name__)  # no values: they may be PHI
            from dashboard.importers import ImportReport

            cache[key] = ImportReport(file_name=name, file_error="the file could not be read "
                                      f"({type(exc).__name__}); nothing was imported")
    return cache[key]


if uploads:
    previews = [_preview(f.name, f.getvalue()) for f in uploads]
    for report in previews:
        components.import_report(report)
        if report.errors or report.conflicts:
            rows = pd.DataFrame([(i.line, i.column, i.reason)
                                 for i in sorted(report.errors + report.conflicts)],
                                columns=["line", "column", "reason"])
            st.download_button(f"Download the problems of {report.file_name} (CSV)",
                               to_csv_bytes(rows, meta=[f"problems of {report.file_name}"],
                                            settings=settings),
                               file_name=f"{report.file_name}-problems.csv", mime="text/csv",
                               key=f"data_problems_{report.sha256[:12]}_{report.file_name}")
    ready = all(r.ok for r in previews)
    if st.button("Import", type="primary", disabled=not ready, key="data_import"):
        bar = st.progress(0.0, text="Importing…")
        reports = []
        for i, f in enumerate(uploads):
            try:
                report = data.run_import(url, f.name, f.getvalue(), actor=auth.actor(),
                                         progress=lambda done, total, i=i, name=f.name:
                                         bar.progress(min((i + done / max(total, 1))
                                                          / len(uploads), 1.0),
                                                      text=f"Importing {md(name)}…"),
                                         **options)
            except Exception as exc:  # noqa: BLE001
                log.error("import failed: %s", type(exc).__name__)
                from dashboard.importers import ImportReport

                report = ImportReport(file_name=f.name, file_error="the import failed "
                                      f"({type(exc).__name__}); nothing was written")
            reports.append(report)
        bar.progress(1.0, text="Done")
        data.clear()
        # a fresh uploader: the imported files' preview and Import button do not linger
        st.session_state["data_round"] = st.session_state.get("data_round", 0) + 1
        st.session_state["data_done"] = reports
        st.session_state.pop("data_previews", None)
        st.rerun()
    elif not ready:
        st.warning("Nothing was imported: fix the problems listed for each file (or download "
                   "them as CSV) and upload the files again.")

st.subheader("Import history")
history = data.history(url)
if history.empty:
    st.info("Nothing imported yet.")
else:
    st.dataframe(history, hide_index=True, key="data_history")

st.subheader("Completeness: what is missing and why")
if "assessments" in data.stored(url):
    components.completeness_table(data.completeness_summary(url, settings))
