"""Admin: accounts and roles, and the audit log (who viewed, imported or exported what)."""

import streamlit as st

from dashboard import auth, data, security
from dashboard.db.repository import audit_events, list_users

url = data.current_url()
if not security.can_admin(auth.current_user()):
    st.error("Your role does not include administration.")
    st.stop()
st.title("Admin")
st.subheader("Accounts")
st.caption("Add or change accounts with `kap-outcomes user add NAME --role ROLE` (the password is "
           "asked for, never passed on the command line). OIDC users need an account with their "
           "e-mail as the name and no password.")
st.dataframe(list_users(data.engine(url)), hide_index=True, key="admin_users")
st.subheader("Audit log")
events = audit_events(data.engine(url), limit=5000)
action = st.multiselect("Actions", sorted(events["action"].unique()), key="admin_actions",
                        placeholder="All")
if action:
    events = events[events["action"].isin(action)]
st.dataframe(events, hide_index=True, key="admin_audit")
