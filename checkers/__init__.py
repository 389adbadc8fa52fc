"""Checkers: pure functions of (test, history) -> Result (DESIGN §3)."""

from checkers.core import (
    UNKNOWN,
    Anomaly,
    Checker,
    Compose,
    Result,
    Verdict,
    merge_valid,
    safe_check,
    verdict_word,
)
from checkers.crash import Crashes
from checkers.elle import CONSISTENCY_MODELS, ListAppend, check_list_append
from checkers.linearizability import Linearizable, check_history
from checkers.models import INCONSISTENT, MODELS, Model, ModelError, make_model

__all__ = [
    # core
    "UNKNOWN",
    "Anomaly",
    "Checker",
    "Compose",
    "Result",
    "Verdict",
    "merge_valid",
    "safe_check",
    "verdict_word",
    # crashes
    "Crashes",
    # linearizability
    "INCONSISTENT",
    "MODELS",
    "Linearizable",
    "Model",
    "ModelError",
    "check_history",
    "make_model",
    # elle (list-append transactions)
    "CONSISTENCY_MODELS",
    "ListAppend",
    "check_list_append",
]
