"""The promotion gate: what a protected tag's policy asks of a promotion before approval.

Policies judge evidence (experiments), and experiments sit above prompts, so prompts cannot
ask them directly: the experiments app registers its gate here in `AppConfig.ready()` (as
apps register inbox counters in teams.navigation). With no gate registered, a promotion
needs only a reviewer's approval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.core.errors import ValidationFailed


@dataclass(frozen=True)
class PromotionGate:
    # blockers(promotion) -> why the tag's policy refuses approval now (empty: it allows it)
    blockers: Callable[[Any], list[str]]
    # request_context(request, promotion) -> extra context of the request page; names the
    # template of its panel as `gate_template`
    request_context: Callable[[Any, Any], dict]
    # settings_context(request, prompt) -> extra context of the prompt's settings page; names
    # the template of its panel as `gate_settings_template`
    settings_context: Callable[[Any, Any], dict]
    # known_evidence(team, refs) -> which of the evidence references (see `evidence_refs`)
    # name evidence of the team
    known_evidence: Callable[[Any, list[EvidenceRef]], set[EvidenceRef]] | None = None
    # evidence_label(ref) -> what a reference names, in words ("optimisation run #7")
    evidence_label: Callable[[EvidenceRef], str] | None = None


# A request's evidence is a list of references: an experiment by its id (an int, as it has
# always been stored), or another kind the gate knows by "<kind>:<id>" ("optimisation:7").
EvidenceRef = int | str
REF = re.compile(r"^([a-z_]{1,40}):#?([0-9]{1,19})$")
MAX_ID = 2**63 - 1


_gate: PromotionGate | None = None


def register_promotion_gate(gate: PromotionGate) -> None:
    global _gate
    _gate = gate


class ApprovalBlocked(ValidationFailed):
    """The tag's policy refuses approval; the API answers 400 with `blocked_reasons`."""

    code = "approval_blocked"

    def __init__(self, reasons: list[str]):
        super().__init__("Approval is blocked: " + " ".join(reasons))
        self.reasons = reasons

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "blocked_reasons": self.reasons}


def approval_blockers(promotion) -> list[str]:
    """Why the policy of the request's tag refuses approval now (empty: it allows it)."""
    return _gate.blockers(promotion) if _gate is not None else []


def approval_enforce(promotion) -> None:
    """Called by promotion_approve before the tag moves."""
    reasons = approval_blockers(promotion)
    if reasons:
        raise ApprovalBlocked(reasons)


def evidence_refs(raw: Any) -> list[EvidenceRef]:
    """The references of a posted evidence list, normalised (an experiment is its id, also
    when written "experiment:12" or "#12"; other kinds stay "<kind>:<id>"), each once. A
    malformed item is refused naming the field `evidence`."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list | tuple):
        raise ValidationFailed("Evidence is a list of references.", field="evidence")
    out: list[EvidenceRef] = []
    for item in raw:
        ref = _ref(item)
        if ref not in out:
            out.append(ref)
    return out


def _ref(item: Any) -> EvidenceRef:
    bad = ValidationFailed(
        f"Evidence {str(item)[:40]!r} is neither an experiment id (12) nor a reference such "
        "as 'optimisation:7'.",
        field="evidence",
    )
    if isinstance(item, bool):
        raise bad
    if isinstance(item, int):
        if not 0 < item <= MAX_ID:
            raise bad
        return item
    if not isinstance(item, str):
        raise bad
    text = item.strip().lstrip("#")
    if text.isdigit():
        return _ref(int(text)) if len(text) <= 19 else _ref(-1)
    match = REF.match(text.lower())
    if match is None or not 0 < int(match.group(2)) <= MAX_ID:
        raise bad
    kind, pk = match.group(1), int(match.group(2))
    return pk if kind == "experiment" else f"{kind}:{pk}"


def evidence_label(ref: EvidenceRef) -> str:
    """What a reference names, in words: "experiment #12", "optimisation run #7"."""
    if _gate is not None and _gate.evidence_label is not None:
        return _gate.evidence_label(ref)
    return f"experiment #{ref}" if isinstance(ref, int) else str(ref)


def evidence_check(team, refs: list[EvidenceRef]) -> None:
    """Refuse (naming the field `evidence`) any reference that names no evidence of `team`:
    another team's experiment or run, or none at all. With no gate registered nothing can
    be evidence."""
    if not refs:
        return
    known_evidence = _gate.known_evidence if _gate is not None else None
    known = known_evidence(team, refs) if known_evidence is not None else set()
    unknown = [i for i in refs if i not in known]
    if unknown:
        raise ValidationFailed(
            f"Evidence: there is no {evidence_label(unknown[0])} in this team.", field="evidence"
        )


def request_page_context(request, promotion) -> dict:
    return _gate.request_context(request, promotion) if _gate is not None else {}


def settings_page_context(request, prompt) -> dict:
    return _gate.settings_context(request, prompt) if _gate is not None else {}
