"""Accounts, sign-in with rotating refresh tokens, and assignments of duties to areas.

One module a concern: `accounts` (creating and finding people), `sessions` (tokens) and
`assignments`. Who is on duty is `people.duty`'s answer."""

from grid_backend.people.services.accounts import (
    check_password_strength,
    create_account,
    find_accounts,
)
from grid_backend.people.services.assignments import (
    create_assignment,
    end_assignment,
    get_assignment,
    list_assignments,
    me,
    read_assignment,
    validate_assignment,
)
from grid_backend.people.services.deactivation import deactivate_account
from grid_backend.people.services.sessions import (
    issue_tokens,
    login,
    logout,
    refresh,
    session_of,
)

__all__ = [
    "check_password_strength",
    "create_account",
    "create_assignment",
    "deactivate_account",
    "end_assignment",
    "find_accounts",
    "get_assignment",
    "issue_tokens",
    "list_assignments",
    "login",
    "logout",
    "me",
    "read_assignment",
    "refresh",
    "session_of",
    "validate_assignment",
]
