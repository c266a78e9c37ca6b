"""Data: upload clinic files, preview the validation report, import; history; completeness."""

import streamlit as st

from analysis import Settings
from dashboard import auth, components, data, security

settings = Settings()
url = data.current_url()
if not security.can_import(auth.current_user()):
    st.error("Your role does not include imports.")
    st.stop()
st.title("Data")
st.caption("CSV (UTF-8, comma or semicolon), XLSX or FHIR JSON/NDJSON. Each file imports whole or "
           "not at all; rows already stored are skipped; nothing stored is ever overwritten.")

uploads = st.file_uploader("Clinic files", accept_multiple_files=True, key="data_upload",
                           type=["csv", "xlsx", "json", "ndjson"])
left, right = st.columns(2)
kind = left.selectbox("File holds", ["detect from headers", "patients", "sessions",
                                     "assessments"], key="data_kind")
order = right.selectbox("Slash dates (e.g. 04/03/2025) are", ["not allowed (ISO only)",
                                                              "day first", "month first"],
                        key="data_date_order")
options = dict(kind=None if kind.startswith("detect") else kind,
               date_order={"day first": "dayfirst", "month first": "monthfirst"}.get(order, "iso"))
if uploads:
    previews = [data.preview_import(url, f.name, f.getvalue(), **options) for f in uploads]
    for report in previews:
        components.import_report(report)
    ready = all(r.ok for r in previews)
    if st.button("Import", type="primary", disabled=not ready, key="data_import"):
        bar = st.progress(0.0, text="Importing…")
        for i, f in enumerate(uploads):
            report = data.run_import(url, f.name, f.getvalue(), actor=auth.actor(),
                                     progress=lambda done, total, i=i, name=f.name: bar.progress(
                                         min((i + done / max(total, 1)) / len(uploads), 1.0),
                                         text=f"Importing {name}…"),
                                     **options)
            components.import_report(report)
        bar.progress(1.0, text="Done")
        data.clear()
    elif not ready:
        st.warning("Fix the rows listed above and upload the file again: nothing was imported.")

st.subheader("Import history")
history = data.history(url)
if history.empty:
    st.info("Nothing imported yet.")
else:
    st.dataframe(history, hide_index=True, key="data_history")

st.subheader("Completeness: what is missing and why")
if not data.frames(url).assessments.empty:
    components.completeness_table(data.completeness_summary(url, settings))
