"""Mutation testing of the systems under test: how many planted bugs does faultbox find?

``faultbox mutate --system raftkv`` (docs/mutation.md): operator mutants and
curated bug mutations of a system's pure core, each run as an overlay in a
child process through the unit tests, the simulation swarm and, for a
sample, Docker runs; the mutation score is the share the harness kills.
"""

from harness.mutate.mutants import OPERATORS, Mutant, apply, load_curated, operator_mutants, sample

__all__ = ["OPERATORS", "Mutant", "apply", "load_curated", "operator_mutants", "sample"]
