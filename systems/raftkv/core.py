"""Re-export: the pure Raft core lives in the shared library (``systems.raft.core``)."""

from systems.raft.core import *  # noqa: F403
from systems.raft.core import __all__ as __all__
