"""Re-export: the write-ahead log storage lives in the shared library (``systems.raft.storage``)."""

from systems.raft.storage import *  # noqa: F403
from systems.raft.storage import __all__ as __all__
