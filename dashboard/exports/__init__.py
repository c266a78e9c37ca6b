"""Exports for quality teams: charts (PNG/SVG/PDF), tables (CSV/XLSX), the quarterly PDF report.

Everything here is de-identified by construction: aggregate tables carry no patient ids and
suppress small cells; a patient-level research extract uses per-export random ids and days
from day 0 instead of dates.
"""
