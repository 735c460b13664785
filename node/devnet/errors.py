"""The devnet's one error."""

from __future__ import annotations


class DevnetError(Exception):
    """The devnet could not run to its summary; the message says why."""
