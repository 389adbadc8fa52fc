"""Elle-style transactional checker for list-append histories (pure Python, no networkx).

Modules: :mod:`.infer` (txns, version orders, non-cycle anomalies),
:mod:`.graph` (typed dependency graph), :mod:`.cycles` (SCCs, cycle search,
classification, cycle-exists), :mod:`.models` (consistency models and the
anomalies they forbid), :mod:`.checker` (the Checker). Each module's
docstring says what we decided and where we simplified against Elle.
"""

from checkers.elle.checker import ListAppend, check_list_append, parse_models
from checkers.elle.infer import FrozenMap, freeze
from checkers.elle.models import MODELS as CONSISTENCY_MODELS
from checkers.elle.models import ModelError

__all__ = [
    "CONSISTENCY_MODELS",
    "FrozenMap",
    "ListAppend",
    "ModelError",
    "check_list_append",
    "freeze",
    "parse_models",
]
