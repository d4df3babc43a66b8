"""The promotion gate: what a protected tag's policy asks of a promotion before approval.

Policies judge evidence (experiments), and experiments sit above prompts, so prompts cannot
ask them directly: the experiments app registers its gate here in `AppConfig.ready()` (as
apps register inbox counters in teams.navigation). With no gate registered, a promotion
needs only a reviewer's approval.
"""

from __future__ import annotations

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
    # known_evidence(team, ids) -> which of the ids are experiments of the team
    known_evidence: Callable[[Any, list[int]], set[int]] | None = None


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


def evidence_check(team, ids: list[int]) -> None:
    """Refuse (naming the field `evidence`) any id that is not an experiment of `team`:
    another team's experiment, or none at all. With no gate registered nothing can be
    evidence."""
    if not ids:
        return
    known_evidence = _gate.known_evidence if _gate is not None else None
    known = known_evidence(team, ids) if known_evidence is not None else set()
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValidationFailed(
            f"Evidence: there is no experiment #{unknown[0]} in this team.", field="evidence"
        )


def request_page_context(request, promotion) -> dict:
    return _gate.request_context(request, promotion) if _gate is not None else {}


def settings_page_context(request, prompt) -> dict:
    return _gate.settings_context(request, prompt) if _gate is not None else {}
