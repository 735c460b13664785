"""The one error a role reports to its operator."""

from __future__ import annotations


class RoleError(Exception):
    """A problem a role reports to its operator as a sentence (and exits non-zero)."""
