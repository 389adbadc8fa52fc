"""Re-export: the Raft value types live in the shared library (``systems.raft.types``)."""

from systems.raft.types import *  # noqa: F403
from systems.raft.types import __all__ as __all__
