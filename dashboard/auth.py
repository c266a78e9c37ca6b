"""Sign-in for the app: local mode (one user on localhost) or clinic mode (accounts or OIDC).

Mode: ``KAP_OUTCOMES_MODE`` (``local`` default, or ``clinic``) or ``[kap] mode`` in Streamlit
secrets. Clinic mode refuses to show anything unless authentication is configured: an OIDC
provider in ``[auth]`` secrets (Streamlit's ``st.login``) or at least one local account
(``kap-outcomes user add``). Sessions expire after ``KAP_OUTCOMES_SESSION_MINUTES`` (default 30)
minutes without activity. Failed sign-ins are audited with the name tried, never the password.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import streamlit as st
from sqlalchemy import Engine, func, select

from dashboard.db.models import AppUser, AuditEvent
from dashboard.db.repository import get_user, record_audit
from dashboard.security import LOCAL_USER, User, hash_password, parse_clinics, verify_password

__all__ = ["mode", "session_minutes", "require_user", "logout", "auth_configured",
           "current_user", "actor", "signed_in", "remember_requested_page"]

_USER_KEY = "auth_user"
_SEEN_KEY = "auth_last_seen"


def _secret(section: str, key: str) -> object:
    try:
        return st.secrets.get(section, {}).get(key)
    except Exception:  # no secrets file at all
        return None


def mode() -> str:
    """``local`` or ``clinic``."""
    value = os.environ.get("KAP_OUTCOMES_MODE") or _secret("kap", "mode") or "local"
    value = str(value).lower()
    if value not in ("local", "clinic"):
        raise ValueError(f"KAP_OUTCOMES_MODE must be local or clinic, got {value!r}")
    return value


def session_minutes() -> float:
    return float(os.environ.get("KAP_OUTCOMES_SESSION_MINUTES", "30"))


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets and bool(st.secrets["auth"].get("cookie_secret"))
    except Exception:
        return False


def auth_configured(engine: Engine) -> bool:
    """An OIDC provider in secrets, or at least one active local account."""
    if _oidc_configured():
        return True
    t = AppUser.__table__
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(t).where(
            t.c.active.is_(True), t.c.password_hash.is_not(None))).scalar_one()
    return n > 0


def _to_user(row: dict) -> User:
    return User(username=row["username"], role=row["role"],
                clinics=parse_clinics(row.get("clinics")),
                clinician_id=row.get("clinician_id"))


def signed_in() -> bool:
    """Whether this session has a signed-in user."""
    return _USER_KEY in st.session_state


def current_user() -> User:
    """The user of this session (set by :func:`require_user` in the entry point)."""
    user = st.session_state.get(_USER_KEY)
    if user is None:
        if mode() == "local":
            return LOCAL_USER
        raise PermissionError("not signed in")
    return user


def actor() -> str:
    """The name written to the audit log for this session (the OS user in local mode)."""
    user = current_user()
    if user.role == "local":
        import getpass

        return getpass.getuser()
    return user.username


def logout() -> None:
    """End the session (and the OIDC session when there is one)."""
    st.session_state.pop(_USER_KEY, None)
    st.session_state.pop(_SEEN_KEY, None)
    if _oidc_configured() and st.user.get("is_logged_in", False):
        st.logout()


def require_user(engine: Engine) -> User:
    """The signed-in user; otherwise draw the sign-in form (or the refusal) and stop the run."""
    if mode() == "local":
        st.session_state[_USER_KEY] = LOCAL_USER
        return LOCAL_USER
    if not auth_configured(engine):
        st.error("Clinic mode is on but no authentication is configured: add an account with "
                 "`kap-outcomes user add` or an OIDC provider in `.streamlit/secrets.toml`. "
                 "Nothing is shown until then.")
        st.stop()
    now = time.time()
    seen = st.session_state.get(_SEEN_KEY)
    if _USER_KEY in st.session_state and seen is not None and now - seen > session_minutes() * 60:
        st.session_state.pop(_USER_KEY, None)
        st.warning("Your session expired. Please sign in again.")
    if _USER_KEY in st.session_state:
        st.session_state[_SEEN_KEY] = now
        return st.session_state[_USER_KEY]
    if _oidc_configured() and st.user.get("is_logged_in", False):
        row = get_user(engine, str(st.user.get("email", "")))
        if row and row["active"]:
            user = _to_user(row)
            st.session_state[_USER_KEY] = user
            st.session_state[_SEEN_KEY] = now
            record_audit(engine, actor=user.username, action="login", detail="oidc")
            return user
        st.error("Your identity provider signed you in, but this clinic has not given you a "
                 "role. Ask an administrator.")
        st.stop()
    _login_form(engine)
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def _login_form(engine: Engine) -> None:
    st.title("KAP Outcomes — sign in")
    if _oidc_configured():
        st.button("Sign in with your organisation", on_click=st.login, key="auth_oidc")
    with st.form("auth_form"):
        username = st.text_input("Username", key="auth_username")
        password = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        name = username.strip()
        wait = _lockout_seconds(engine, name)
        if wait > 0:
            st.error(f"Too many failed sign-ins for this name: try again in {wait // 60 + 1} "
                     "minute(s).")
            return
        row = get_user(engine, name) if name else None
        # argon2 runs for unknown names too, so the answer time does not tell which exist
        stored = row["password_hash"] if row and row["active"] and row["password_hash"] \
            else _DUMMY_HASH
        ok = verify_password(stored, password) and stored is not _DUMMY_HASH
        if ok:
            user = _to_user(row)
            st.session_state[_USER_KEY] = user
            st.session_state[_SEEN_KEY] = time.time()
            st.session_state.pop(_FAILS_KEY, None)
            record_audit(engine, actor=user.username, action="login", detail="password")
            _go_to_requested_page()
            st.rerun()
        # the audit names the account only when it exists: text typed in the Username box may
        # be a password typed in the wrong field
        record_audit(engine, actor=name if row else "(unknown name)", action="login_failed")
        fails = st.session_state.get(_FAILS_KEY, 0) + 1
        st.session_state[_FAILS_KEY] = fails
        time.sleep(min(0.5 * 2 ** (fails - 1), 8.0))  # per-session backoff: 0.5, 1, 2, 4, 8 s
        st.error("Wrong username or password.")


#: A failed sign-in locks the name after this many failures within the window.
MAX_FAILURES = 5
LOCKOUT_MINUTES = 15
_FAILS_KEY = "auth_failures"
_DUMMY_HASH = hash_password("not-a-real-password-0000")


def _lockout_seconds(engine: Engine, name: str) -> int:
    """Seconds left of a lockout of ``name`` (failures counted in the audit log, shared by
    every app instance), or 0."""
    if not name:
        return 0
    t = AuditEvent.__table__
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=LOCKOUT_MINUTES)
    with engine.connect() as conn:
        times = conn.execute(select(t.c.at).where(
            t.c.action == "login_failed", t.c.actor == name, t.c.at >= since)
            .order_by(t.c.at.desc()).limit(MAX_FAILURES)).scalars().all()
    if len(times) < MAX_FAILURES:
        return 0
    until = times[-1] + dt.timedelta(minutes=LOCKOUT_MINUTES)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return max(int((until - now).total_seconds()), 0)


_TARGET_KEY = "auth_requested_page"


def remember_requested_page(path: str, params: dict[str, str]) -> None:
    """Keep the page a signed-out user asked for (a deep link) to open it after sign-in."""
    st.session_state.setdefault(_TARGET_KEY, (path, params))


def _go_to_requested_page() -> None:
    target = st.session_state.pop(_TARGET_KEY, None)
    if target:
        path, params = target
        for key, value in params.items():
            st.query_params[key] = value
        st.session_state["auth_next_page"] = path
