"""The one exception tree of the harness. Every subclass carries a one-line user message."""

from __future__ import annotations

__all__ = ["FaultboxError", "UsageError", "SetupError"]


class FaultboxError(Exception):
    """Base of every error the CLI turns into one line and exit code 2."""


class UsageError(FaultboxError):
    """Bad options or input named by the user."""


class SetupError(FaultboxError):
    """The test could not be set up (a node never came up, a fault the backend cannot do)."""
