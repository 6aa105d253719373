"""JSON API of the embedded admin page: `/api/admin/*` (docs/design.md §6).

Every handler is wrapped by `admin_ui.auth.admin_endpoint` (session token → shop), filters
every query on that shop and reads stored results only: a read never recomputes.
"""
