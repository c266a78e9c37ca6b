"""Rebuilds of the derived tables in the background of an app process.

When the stored outcomes were made under other settings or by an earlier version, every page
computes them from the records (correct, slow at network scale) until they are rebuilt. The
app starts that rebuild itself, in a background thread, the first time a page run finds them
stale (:func:`start`), and every page shows its progress (``components.rebuild_banner``). One
rebuild per database and settings runs in a process; another process waiting on the import
lock meanwhile finds the tables current and does nothing (``only_if_stale``). No Streamlit
here: the pages read a :class:`Rebuild`'s fields.

>>> import tempfile
>>> from dashboard.db import make_engine, upgrade
>>> from analysis import Settings
>>> engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/kap.db")
>>> upgrade(engine)
>>> job = start(engine, Settings(), actor="system")
>>> job.wait(60).patients, job.error
(0, None)
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from analysis.settings import Settings
from dashboard.db import derived, repository
from dashboard.db.derived import settings_key

__all__ = ["Rebuild", "start", "current"]

log = logging.getLogger(__name__)

#: who the audit log names for a rebuild the app started by itself
SYSTEM_ACTOR = "system (background rebuild)"


@dataclass
class Rebuild:
    """One background rebuild: its progress in patients, and how it ended."""

    done: int = 0
    total: int = 0
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    #: patients rebuilt (0: the tables were found current once the lock was held)
    patients: int | None = None
    #: the error's type when it failed (no message: it may quote patient data)
    error: str | None = None
    #: whether a page has already forgotten its cached data for this rebuild's result
    seen: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def share(self) -> float:
        """The share of patients done, 0 to 1."""
        return self.done / self.total if self.total else 0.0

    def wait(self, timeout: float | None = None) -> Rebuild:
        """Block until the rebuild ends (or ``timeout`` seconds pass); returns itself."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self


_jobs: dict[tuple[str, str], Rebuild] = {}
_lock = threading.Lock()


def _key(engine: Engine, settings: Settings) -> tuple[str, str]:
    return engine.url.render_as_string(hide_password=True), settings_key(settings)


def current(engine: Engine, settings: Settings) -> Rebuild | None:
    """This process's rebuild of this database under these settings (running or ended)."""
    with _lock:
        return _jobs.get(_key(engine, settings))


def start(engine: Engine, settings: Settings, *, actor: str = SYSTEM_ACTOR,
          again: bool = False) -> Rebuild:
    """The rebuild of this database under ``settings``, started in a background thread unless
    one is running, or has ended without error (``again``: also after it ended). The rebuild
    is audited as ``derive``."""
    key = _key(engine, settings)
    with _lock:
        job = _jobs.get(key)
        if job is not None and (job.running or (job.error is None and not again)):
            return job
        job = _jobs[key] = Rebuild()
        job._thread = threading.Thread(target=_run, args=(job, engine, settings, actor),
                                       name="kap-outcomes-rebuild", daemon=True)
        job._thread.start()
    return job


def _run(job: Rebuild, engine: Engine, settings: Settings, actor: str) -> None:
    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total

    try:
        job.patients = derived.rebuild(engine, settings, progress=progress, only_if_stale=True)
        if job.patients:   # 0: another process had rebuilt them while this one waited
            repository.record_audit(engine, actor=actor, action="derive",
                                    detail=f"{job.patients} patients (background)")
    except Exception as exc:  # noqa: BLE001 - any failure ends the job and is shown
        job.error = type(exc).__name__
        log.warning("background rebuild of the derived outcomes failed (%s)", job.error)
    finally:
        job.finished_at = dt.datetime.now(dt.UTC)
