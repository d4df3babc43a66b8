"""The promotion gate: whether a protected tag's policy lets a promotion be approved.

A TagPolicy names a gating dataset, evaluators and a tolerance. With a policy, approval of a
promotion is refused unless an attached, completed experiment ran on the dataset's CURRENT
revision with both the candidate and the version now at the tag, ran every policy evaluator,
and shows the candidate not worse beyond the tolerance (apps.experiments.comparison's gate:
the same rule as `promptyard eval`). ExperimentsConfig.ready() registers it with prompts
(apps.prompts.gates), which asks it before a promotion is approved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.datasets.selectors import examples_at_revision
from apps.experiments import comparison, evidence_kinds
from apps.experiments.models import Experiment, Status, Variant
from apps.experiments.selectors import (
    evaluators_of,
    experiment_ids_of_team,
    experiments_by_id,
    policy_evaluators,
    policy_for,
)
from apps.experiments.variants import effective_settings, missing_model, policy_overrides
from apps.prompts.models import GateRule, PromotionRequest, TagPolicy

# Who can take a next step: the roles a page names people of.
MANAGERS = "managers"  # owners and admins
EDITORS = "editors"  # editors, admins and owners
WORKER = "worker"  # nobody: the background worker


@dataclass(frozen=True)
class NextStep:
    action: str
    who: str  # MANAGERS, EDITORS or WORKER


@dataclass
class Evidence:
    """One attached experiment (or another kind's evidence), judged for this request."""

    id: int
    experiment: Experiment | None
    # The comparison with the current version as reference, and the candidate's rows.
    summary: comparison.Summary | None = None
    rows: list[comparison.EvaluatorSummary] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why it does not satisfy the policy
    findings: list[comparison.GateFinding] = field(default_factory=list)  # regressions
    # Another kind's evidence (apps.experiments.evidence_kinds): its name, the object it
    # found (None: gone or never there) and the template that shows it in the panel.
    kind: str = "experiment"
    subject: Any = None
    template: str = ""

    @property
    def found(self) -> bool:
        return self.experiment is not None or self.subject is not None

    @property
    def satisfies(self) -> bool:
        return self.found and not self.problems and not self.findings


def known_evidence(team, refs: list) -> set:
    """Which of a request's evidence references name evidence of `team`: experiment ids,
    and "<kind>:<id>" of the kinds registered in apps.experiments.evidence_kinds."""
    known: set = set(experiment_ids_of_team(team, [r for r in refs if isinstance(r, int)]))
    by_kind: dict[str, list[int]] = {}
    for ref in refs:
        split = evidence_kinds.split_ref(ref)
        if split is not None:
            by_kind.setdefault(split[0], []).append(split[1])
    for name, ids in by_kind.items():
        kind = evidence_kinds.evidence_kind(name)
        if kind is not None:
            known |= {f"{name}:{pk}" for pk in kind.known(team, ids)}
    return known


def evidence_label(ref) -> str:
    split = evidence_kinds.split_ref(ref)
    if split is None:
        return f"experiment #{ref}"
    kind = evidence_kinds.evidence_kind(split[0])
    return f"{kind.label if kind else split[0]} #{split[1]}"


def _other_evidence(promotion: PromotionRequest, policy: TagPolicy | None) -> list[Evidence]:
    """The references of registered kinds, each judged by its kind; an unknown kind's
    reference is shown as evidence that counts for nothing."""
    by_kind: dict[str, list[int]] = {}
    for ref in promotion.evidence or []:
        split = evidence_kinds.split_ref(ref)
        if split is not None:
            by_kind.setdefault(split[0], []).append(split[1])
    out: list[Evidence] = []
    for name, ids in by_kind.items():
        kind = evidence_kinds.evidence_kind(name)
        if kind is None:
            out += [
                Evidence(pk, None, kind=name, problems=[f"{name}:{pk} is unknown."]) for pk in ids
            ]
            continue
        out += kind.judge(promotion, policy, ids)
    return out


def _variant_for(variants: list[Variant], version_id: int | None) -> Variant | None:
    return next((v for v in variants if v.prompt_version_id == version_id), None)


def dataset_problems(what: str, dataset, revision: int, policy: TagPolicy) -> list[str]:
    """Why evidence measured on `dataset` at `revision` is not on the policy's gating
    dataset as it is now (`what`: "Experiment #3 ran", say); [] when it is."""
    if dataset.pk != policy.dataset_id:
        return [f"{what} on {dataset.name}, not the gating dataset {policy.dataset.name}."]
    if revision != policy.dataset.current_revision:
        return [
            f"{what} on revision {revision} of {policy.dataset.name}; the current revision "
            f"is {policy.dataset.current_revision}."
        ]
    return []


def evidence_of(promotion: PromotionRequest, policy: TagPolicy | None = None) -> list[Evidence]:
    """Each attached experiment: its candidate-vs-current summary and, under a policy, why
    it does (not) count."""
    ids = [i for i in promotion.evidence or [] if isinstance(i, int)]
    experiments = experiments_by_id(ids)
    policy_names = None
    if policy is not None:
        policy_ids = list(policy.evaluators or [])
    out = []
    for pk in ids:
        experiment = experiments.get(pk)
        item = Evidence(pk, experiment)
        out.append(item)
        if experiment is None:
            item.problems.append(f"Experiment #{pk} no longer exists.")
            continue
        loaded = comparison.load(experiment)
        candidate = _variant_for(loaded.variants, promotion.candidate_id)
        current = (
            _variant_for(loaded.variants, promotion.current_version_id)
            if promotion.current_version_id
            else None
        )
        if candidate is None:
            item.problems.append(
                f"Experiment #{pk} did not run the candidate v{promotion.candidate.number}."
            )
        if promotion.current_version_id and current is None:
            at_tag = promotion.current_version
            assert at_tag is not None  # its id is set
            item.problems.append(
                f"Experiment #{pk} did not run v{at_tag.number}, "
                f"the version at {promotion.tag_name}."
            )
        if candidate is not None and current is not None:
            loaded.baseline_id = current.pk
            item.summary = comparison.summarize(loaded)
            item.rows = [r for r in item.summary.rows if r.variant_id == candidate.pk]
        if policy is None:
            continue
        item.problems += dataset_problems(
            f"Experiment #{pk} ran", experiment.dataset, experiment.dataset_revision, policy
        )
        if experiment.status != Status.COMPLETED:
            item.problems.append(
                f"Experiment #{pk} is {experiment.get_status_display().lower()}, not completed."
            )
        links = {link.evaluator_id: link.name for link in evaluators_of(experiment)}
        missing = [i for i in policy_ids if i not in links]
        if missing:
            item.problems.append(f"Experiment #{pk} did not run every evaluator of the policy.")
        policy_names = [links[i] for i in policy_ids if i in links]
        if item.summary is not None and not item.problems and promotion.current_version_id:
            item.findings = comparison.gate_findings(
                item.summary,
                tolerance=policy.tolerance,
                evaluators=policy_names,
                rule=policy.rule,
            )
    return out + _other_evidence(promotion, policy)


def approval_blockers(
    promotion: PromotionRequest, evidence: list[Evidence] | None = None
) -> list[str]:
    """Why the policy of the request's tag refuses approval now (empty: it allows it)."""
    policy = policy_for(promotion.prompt, promotion.tag_name)
    if policy is None:
        return []
    if promotion.current_version_id is None:
        return []  # nothing at the tag yet: nothing to be worse than
    if evidence is None:
        evidence = evidence_of(promotion, policy)
    if any(item.satisfies for item in evidence):
        return []
    at_tag = promotion.current_version
    assert at_tag is not None  # its id was checked above
    # What may carry the comparison: an experiment, or any registered kind of evidence.
    carriers = " or ".join(
        ["experiment", *(kind.label for kind in evidence_kinds.evidence_kinds())]
    )
    if policy.rule == GateRule.NONINFERIORITY:
        rule = (
            f"The policy of '{promotion.tag_name}' needs an attached, completed {carriers} on "
            f"{policy.dataset.name} (revision {policy.dataset.current_revision}) showing, with "
            f"95 % confidence, that v{promotion.candidate.number} is at most "
            f"{policy.tolerance * 100:g} points worse than v{at_tag.number}."
        )
    else:
        rule = (
            f"The policy of '{promotion.tag_name}' (weaker rule: no detectable regression) "
            f"needs an attached, completed {carriers} on {policy.dataset.name} (revision "
            f"{policy.dataset.current_revision}) where v{promotion.candidate.number} is not "
            f"detectably worse than v{at_tag.number}"
            + (f" by more than {policy.tolerance * 100:g} points" if policy.tolerance else "")
            + "."
        )
    reasons = [rule]
    if not evidence:
        reasons.append("No experiment is attached: run the gating experiment.")
    for item in evidence:
        reasons += item.problems
        reasons += [str(f) for f in item.findings]
    return reasons


def gate_run_problems(promotion: PromotionRequest, policy: TagPolicy | None) -> list[NextStep]:
    """What stops the gating experiment from running now, each with who can fix it."""
    if policy is None:
        return []
    problems = []
    if not policy_evaluators(policy):
        problems.append(
            NextStep(
                "The policy's evaluators were deleted: edit the policy on the prompt's "
                "settings page.",
                MANAGERS,
            )
        )
    dataset = policy.dataset
    if not examples_at_revision(dataset, dataset.current_revision).exists():
        problems.append(
            NextStep(f"The gating dataset {dataset.name} has no examples: add some.", EDITORS)
        )
    versions = [promotion.current_version, promotion.candidate]
    for version in [v for v in versions if v is not None]:
        settings_ = effective_settings(
            version, policy_overrides(policy, version), team=promotion.team
        )
        if missing_model(settings_):
            problems.append(
                NextStep(
                    f"v{version.number} was saved without a model, and neither the policy "
                    "nor the team names one: set the team's default model (Settings → Model "
                    "providers) or the policy's model (the prompt's settings).",
                    MANAGERS,
                )
            )
            break
    return problems


def next_step(
    promotion: PromotionRequest,
    policy: TagPolicy | None,
    evidence: list[Evidence],
    blockers: list[str],
) -> NextStep | None:
    """The step the gate waits for, or None when it does not block the request."""
    if not promotion.is_open or not blockers:
        return None
    running = [i for i in evidence if getattr(i.experiment, "is_active", False)]
    if running:
        return NextStep(
            f"Wait for experiment #{running[0].id} to finish: this page shows its verdict "
            "when it completes.",
            WORKER,
        )
    problems = gate_run_problems(promotion, policy)
    if problems:
        return problems[0]
    if any(item.findings for item in evidence):
        return NextStep(
            "The gating experiment shows the candidate worse than the version at the tag "
            "beyond the margin: save a better version and request again, or cancel this request.",
            EDITORS,
        )
    if evidence:
        return NextStep(
            "No attached experiment meets the policy (see the evidence): run the gating "
            "experiment again.",
            EDITORS,
        )
    return NextStep("Run the gating experiment (the button under Evidence).", EDITORS)
