"""Internals of the linearizability checker: search engine, history preparation, explanations."""

from checkers.linear.explain import explain
from checkers.linear.prepare import Prepared, prepare
from checkers.linear.wgl import Budget, Outcome, Part, PartOp, search

__all__ = ["Budget", "Outcome", "Part", "PartOp", "Prepared", "explain", "prepare", "search"]
