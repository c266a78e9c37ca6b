"""KAP Outcomes application: storage, importers, Streamlit pages, exports and the CLI."""
