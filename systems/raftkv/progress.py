"""Re-export: the leader's per-follower progress lives in the shared library (``systems.raft.progress``)."""

from systems.raft.progress import *  # noqa: F403
from systems.raft.progress import __all__ as __all__
