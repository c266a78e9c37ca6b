"""Importers: CSV / XLSX (long and wide) and FHIR R4 files into the database, all or nothing."""

from dashboard.importers.reading import FileError, read_file
from dashboard.importers.service import ImportReport, import_file, import_files

__all__ = ["FileError", "ImportReport", "import_file", "import_files", "read_file"]
