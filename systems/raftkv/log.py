"""Re-export: the in-memory Raft log lives in the shared library (``systems.raft.log``)."""

from systems.raft.log import *  # noqa: F403
from systems.raft.log import __all__ as __all__
