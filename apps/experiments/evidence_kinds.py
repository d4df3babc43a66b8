"""Evidence other than experiments that a tag's policy may weigh (an optimisation run's
held-out comparison, say). Apps above experiments register a kind here in their
`AppConfig.ready()`; the gate (apps.experiments.gate) asks each kind to judge the
references a request carries ("<kind>:<id>", see apps.prompts.gates) under the same policy
and the same statistics it applies to an experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EvidenceKind:
    name: str  # the prefix of its references: "optimisation" in "optimisation:7"
    label: str  # what one is called, in words: "optimisation run"
    # known(team, ids) -> which of the ids are this kind's evidence of the team
    known: Callable[[Any, list[int]], set[int]]
    # judge(promotion, policy or None, ids) -> one apps.experiments.gate.Evidence per id, in
    # order: its comparison of the candidate with the version at the tag and, under a
    # policy, why it does (not) satisfy it
    judge: Callable[[Any, Any, list[int]], list[Any]]


_kinds: dict[str, EvidenceKind] = {}


def evidence_kind_register(kind: EvidenceKind) -> None:
    _kinds[kind.name] = kind


def evidence_kinds() -> list[EvidenceKind]:
    return list(_kinds.values())


def evidence_kind(name: str) -> EvidenceKind | None:
    return _kinds.get(name)


def split_ref(ref: Any) -> tuple[str, int] | None:
    """("optimisation", 7) for "optimisation:7"; None for an experiment id or a malformed
    reference."""
    if not isinstance(ref, str) or ":" not in ref:
        return None
    kind, _, pk = ref.partition(":")
    return (kind, int(pk)) if pk.isdigit() else None
