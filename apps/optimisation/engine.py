"""An optimisation run's search: GEPA (the `gepa` package) with our adapter.

GEPA proposes candidates by reflection and keeps a Pareto pool; the adapter is ours:
`evaluate` renders the candidate and scores it on examples through apps.optimisation.
evaluation (the experiments' rendering, gateway, evaluators and cost ledger, each result
stored once), and `make_reflective_dataset` turns the failures into feedback (inputs,
outputs, the evaluators' explanations and what they expected, annotators' reasoning). The
reflection model is the run's provider, called through the same gateway.

GEPA's own selection set is the run's train split; the validation split is held out: the
start and the best candidate are measured on it at the end and compared with the
experiments' statistics. A resumed run starts GEPA again with the same seed: every stored
evaluation and reflection is read back, so it replays the search to where it stopped and
repeats no call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import gepa
from django.db import transaction
from django.utils import timezone
from gepa.core.adapter import EvaluationBatch

from apps.core.tenancy import team_scope
from apps.optimisation import comparing
from apps.optimisation.evaluation import (
    BudgetExhausted,
    Evaluator,
    candidate_key,
    candidate_prompt,
    seed_components,
)
from apps.optimisation.models import Candidate, OptimisationRun, Proposal, Round, RunStatus
from apps.prompts import services as prompt_services
from apps.prompts.content import content_hash
from apps.prompts.models import PromptVersion

log = logging.getLogger(__name__)
FENCE = re.compile(r"```[^\n]*\n.*?```", re.DOTALL)


class Cancelled(Exception):
    pass


class PromptyardAdapter:
    """GEPA's adapter protocol (`evaluate`, `make_reflective_dataset`) over our runner."""

    # GEPA's default proposer writes the new texts (by the reflection model's answer).
    propose_new_texts = None

    def __init__(self, evaluator: Evaluator):
        self.evaluator = evaluator

    def evaluate(self, batch, candidate, capture_traces=False):
        ids = [str(example_id) for example_id in batch]
        stored = self.evaluator.evaluate(dict(candidate), ids)
        rows = [stored[i] for i in ids]
        trajectories = None
        if capture_traces:
            trajectories = [
                {
                    "example_id": i,
                    "input": self.evaluator.examples[i].input,
                    "output": row.output,
                    "error": row.error,
                    "passed": row.passed,
                    "verdicts": row.verdicts,
                }
                for i, row in zip(ids, rows, strict=True)
            ]
        return EvaluationBatch(
            outputs=[row.output for row in rows],
            scores=[row.score for row in rows],
            trajectories=trajectories,
        )

    def make_reflective_dataset(
        self, candidate, eval_batch, components_to_update
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        records = []
        traces = sorted(eval_batch.trajectories or [], key=lambda t: bool(t["passed"]))
        for trace in traces:
            notes = [v["feedback"] for v in trace["verdicts"] if v.get("feedback")]
            if trace["error"]:
                notes.insert(0, f"The call failed: {trace['error']}")
            notes += self.evaluator.reasoning.get(trace["example_id"], [])
            records.append(
                {
                    "Inputs": trace["input"],
                    "Generated Outputs": trace["output"] or "(no output)",
                    "Feedback": " ".join(notes) or "All evaluators passed.",
                }
            )
        return {name: records for name in components_to_update}


class _Stop:
    """GEPA's stop condition: the round cap, a cancel request, a spent budget."""

    def __init__(self, run: OptimisationRun, evaluator: Evaluator):
        self.run = run
        self.evaluator = evaluator
        self.reason = ""
        self.recorder: _Recorder | None = None

    def __call__(self, state) -> bool:
        if self.recorder is not None and self.recorder.error is not None:
            raise self.recorder.error
        if state.i + 1 >= self.run.max_rounds:
            self.reason = f"the cap of {self.run.max_rounds} rounds"
            return True
        if self.evaluator.exhausted is not None:
            # GEPA swallows a failed reflection and goes on; a spent budget ends the search.
            self.reason = str(self.evaluator.exhausted)
            return True
        if _cancel_requested(self.run):
            self.reason = "cancelled"
            return True
        return False


def _cancel_requested(run: OptimisationRun) -> bool:
    return bool(
        OptimisationRun.objects.unscoped()  # reason: the run this worker claimed, by its pk
        .filter(pk=run.pk)
        .values_list("cancel_requested", flat=True)
        .first()
    )


def _rationale(raw: str) -> str:
    """What the reflection said outside its ``` block (what changed and why)."""
    text = " ".join(FENCE.sub(" ", raw or "").split())
    return text[:300]


class _Recorder:
    """GEPA callbacks: each new pool member becomes a Hub version, each round a record."""

    def __init__(self, run: OptimisationRun, evaluator: Evaluator, seed: dict[str, str]):
        self.run = run
        self.evaluator = evaluator
        self.rationales: dict[str, str] = {}
        self.proposed: list[str] = []
        # This round's proposals as GEPA's events describe them, stored at its end.
        self.proposals: list[dict[str, Any]] = []
        self.error: Exception | None = None
        self._known: dict[int, Candidate] = {}  # the pool's recorded members, by index
        self._candidate(0, seed, None, 0, "The starting version.")

    def _candidate(self, index, components, parent, number, rationale) -> Candidate:
        if index not in self._known:
            self._known[index] = self._record_candidate(
                index, components, parent, number, rationale
            )
        return self._known[index]

    @transaction.atomic
    def _record_candidate(self, index, components, parent, number, rationale) -> Candidate:
        key = candidate_key(components)
        found = Candidate.objects.filter(run=self.run, index=index).first()
        if found is not None:
            return found
        version = self.run.prompt_version
        if index > 0:
            version = self._version(components, number, rationale)
        return Candidate.objects.create(
            team=self.run.team,
            run=self.run,
            index=index,
            key=key,
            components=components,
            round=number,
            parent_index=parent,
            version=version,
            rationale=rationale,
        )

    def _version(self, components, number, rationale) -> PromptVersion:
        """The candidate as a Hub version: a new one, or the prompt's version that already
        says exactly this (an earlier run may have found the same text)."""
        start = self.run.prompt_version
        prompt = candidate_prompt(start, components)
        messages = prompt.messages if start.kind == "chat" else []
        digest = content_hash(
            kind=start.kind,
            template=prompt.template if start.kind != "chat" else "",
            messages=messages,
            variables_schema=start.variables_schema or {},
            model_settings=start.model_settings or {},
        )
        same = (
            PromptVersion.objects.filter(prompt_id=start.prompt_id, content_hash=digest)
            .order_by("number")
            .first()
        )
        if same is not None:
            return same
        if self.run.created_by is None:
            raise RuntimeError("The run's author has left: nobody to save versions as.")
        why = rationale or "Rewritten from the evaluators' feedback."
        return prompt_services.version_create(
            team=self.run.team,
            actor=self.run.created_by,
            prompt=start.prompt,
            kind=start.kind,
            template=prompt.template,
            messages=messages or None,
            variables_schema=start.variables_schema,
            model_settings=start.model_settings,
            commit_message=(f"Optimisation #{self.run.pk}, round {number}: {why}")[:500],
            parent=start,
        )

    # GEPA's proposal events, in the order it sends them for each proposal: the parent is
    # selected, its minibatch sampled and scored, the reflection proposes, the proposal is
    # scored on the same minibatch, then accepted or rejected.
    def on_candidate_selected(self, event) -> None:
        self.proposals.append(
            {"parent": event["candidate_idx"], "parent_components": dict(event["candidate"])}
        )

    def on_minibatch_sampled(self, event) -> None:
        if self.proposals:
            train = self.run.train_ids
            self.proposals[-1]["minibatch"] = [str(train[int(i)]) for i in event["minibatch_ids"]]

    def on_evaluation_end(self, event) -> None:
        scores = [float(s) for s in event.get("scores") or []]
        if event.get("candidate_idx") is not None:  # a parent on its minibatch
            for item in self.proposals:
                if item["parent"] == event["candidate_idx"] and "parent_scores" not in item:
                    item["parent_scores"] = scores
                    return
        elif not event.get("is_seed_candidate"):  # a proposal on its parent's minibatch
            for item in self.proposals:
                if "components" in item and "scores" not in item:
                    item["scores"] = scores
                    return

    def on_proposal_end(self, event) -> None:
        raw = event.get("raw_lm_outputs") or {}
        for name, text in (event.get("new_instructions") or {}).items():
            self.rationales[text] = _rationale(raw.get(name, ""))
        new = dict(event.get("new_instructions") or {})
        self.proposed.append(candidate_key(new))
        for item in self.proposals:
            if "components" not in item:
                item["components"] = {**item["parent_components"], **new}
                item["reflection"] = "\n\n".join(str(raw[name]) for name in new if name in raw)
                item["rationale"] = "; ".join(
                    self.rationales.get(text, "") for text in new.values()
                )
                return

    def on_candidate_accepted(self, event) -> None:
        self._decide(accepted=True, index=event.get("new_candidate_idx"))

    def on_candidate_rejected(self, event) -> None:
        self._decide(accepted=False, reason=str(event.get("reason") or ""))

    def _decide(self, *, accepted: bool, index: int | None = None, reason: str = "") -> None:
        for item in self.proposals:
            if "components" in item and "accepted" not in item:
                item.update(accepted=accepted, index=index, reason=reason[:300])
                return

    def _store_proposals(self, number: int) -> None:
        """This round's proposals, accepted or not (a resumed run replays the same rounds
        and rewrites the same rows)."""
        made = [item for item in self.proposals if "components" in item]
        for position, item in enumerate(made):
            Proposal.objects.update_or_create(
                run=self.run,
                round=number,
                position=position,
                defaults={
                    "team": self.run.team,
                    "parent_index": item["parent"],
                    "parent_components": item["parent_components"],
                    "components": item["components"],
                    "key": candidate_key(item["components"]),
                    "reflection": item.get("reflection", ""),
                    "rationale": item.get("rationale", "")[:2000],
                    "minibatch_ids": item.get("minibatch", []),
                    "parent_scores": item.get("parent_scores", []),
                    "scores": item.get("scores", []),
                    "accepted": bool(item.get("accepted")),
                    "candidate_index": item.get("index"),
                    "reason": item.get("reason", ""),
                },
            )
        self.proposals = []

    def on_iteration_end(self, event) -> None:
        # GEPA logs and swallows a callback's exception; keep it, so the run stops and
        # fails with it instead of going on without its records.
        try:
            self._record_round(event)
        except Exception as exc:  # noqa: BLE001 - re-raised by the stop condition's caller
            self.error = exc

    def _record_round(self, event) -> None:
        state = event["state"]
        number = event["iteration"]
        for index, components in enumerate(state.program_candidates):
            parents = state.parent_program_for_candidate[index]
            parent = parents[0] if parents else None
            why = "; ".join(
                self.rationales[text] for text in components.values() if text in self.rationales
            )
            self._candidate(index, dict(components), parent, number, why)
        self._scores(state)
        best = max(
            (sum(s.values()) / len(s) if s else 0.0 for s in state.prog_candidate_val_subscores),
            default=0.0,
        )
        # One statement (a resumed run records its replayed rounds again, over the old).
        Round.objects.bulk_create(
            [
                Round(
                    team=self.run.team,
                    run=self.run,
                    number=number,
                    candidate_keys=self.proposed,
                    accepted=bool(event.get("proposal_accepted")),
                    best_train_score=best,
                    calls_used=self.evaluator.calls,
                )
            ],
            update_conflicts=True,
            unique_fields=["run", "number"],
            update_fields=["candidate_keys", "accepted", "best_train_score", "calls_used"],
        )
        self.proposed = []
        self._store_proposals(number)
        _progress(self.run, self.evaluator, rounds=number)

    def _scores(self, state) -> None:
        for index, scores in enumerate(state.prog_candidate_val_subscores):
            candidate = self._known[index]
            if candidate.train_score is not None or not scores:
                continue
            # GEPA keys its selection set by position; ours is the run's train ids.
            ids = [str(self.run.train_ids[int(position)]) for position in scores]
            rows = self.evaluator.evaluate(candidate.components, ids)
            candidate.train_score = sum(scores.values()) / len(scores)
            candidate.train_pass_rate = sum(r.passed for r in rows.values()) / len(rows)
            candidate.save(update_fields=["train_score", "train_pass_rate"])


def _progress(run: OptimisationRun, evaluator: Evaluator, **changes) -> None:
    fields = {
        "calls_used": evaluator.calls,
        "cost_used": round(evaluator.spent, 8),
        "heartbeat_at": timezone.now(),
    }
    if "rounds" in changes:
        fields["rounds_done"] = changes["rounds"]
    if "detail" in changes:
        fields["status_detail"] = changes["detail"]
    # reason: the run this worker claimed, by its primary key.
    OptimisationRun.objects.unscoped().filter(pk=run.pk).update(**fields)


def _claim(run_id: int) -> OptimisationRun | None:
    # reason: a worker picks the run by id before it knows the team; it then scopes to it.
    run = OptimisationRun.objects.unscoped().select_related("team").filter(pk=run_id).first()
    if run is None or run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return None
    # reason: as above; the status moves from queued (or a dead worker's running) to running.
    OptimisationRun.objects.unscoped().filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        started_at=run.started_at or timezone.now(),
        heartbeat_at=timezone.now(),
    )
    run.status = RunStatus.RUNNING
    return run


def execute(run_id: int) -> dict:
    """Run (or resume) an optimisation to its end; what the worker task calls."""
    run = _claim(run_id)
    if run is None:
        return {"run": run_id, "status": "not runnable"}
    with team_scope(run.team):
        return _execute(run)


def _execute(run: OptimisationRun) -> dict:
    seed = seed_components(run.prompt_version)
    # The best candidate's validation evaluation is held back from the search's call budget.
    evaluator = Evaluator(run, holdback_calls=len(run.validation_ids))
    stop = _Stop(run, evaluator)
    recorder = _Recorder(run, evaluator, seed)
    stop.recorder = recorder
    adapter = PromptyardAdapter(evaluator)
    detail = ""
    try:
        # The start on train is GEPA's first measurement (read back when it asks). The start
        # on validation, the comparison's reference, is measured in the slots the search
        # leaves idle, its calls held back from the search's; under a cost cap (which
        # cannot hold money back for it) it is measured first, with train.
        train = [str(i) for i in run.train_ids]
        validation = [str(i) for i in run.validation_ids]
        if run.max_cost is None:
            evaluator.prefetch(seed, validation)
            evaluator.evaluate(seed, train)
        else:
            evaluator.evaluate(seed, [*validation, *train])
        options: dict[str, Any] = dict(
            seed_candidate=seed,
            trainset=list(run.train_ids),
            valset=list(run.train_ids),
            adapter=adapter,
            reflection_lm=evaluator.reflect,
            reflection_minibatch_size=min(run.minibatch_size, len(run.train_ids)),
            candidate_selection_strategy="pareto",
            stop_callbacks=[stop],
            callbacks=[recorder],
            seed=run.seed,
            display_progress_bar=False,
            raise_on_exception=True,
            logger=_QuietLogger(),
        )
        result = gepa.optimize(**options)
        if recorder.error is not None:  # the last round's records failed
            raise recorder.error
        best_index = result.best_idx
        detail = f"Stopped at {stop.reason}." if stop.reason else "Finished."
    except BudgetExhausted as exc:
        best_index = None
        detail = f"Stopped at {exc}."
    except Exception as exc:
        evaluator.close()
        _finish(run, evaluator, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    if stop.reason == "cancelled" or _cancel_requested(run):
        evaluator.close()
        _finish(run, evaluator, RunStatus.CANCELLED, detail="Cancelled; resume to continue.")
        return {"run": run.pk, "status": RunStatus.CANCELLED}
    try:
        best = _best(run, best_index)
        comparison = comparing.validate(run, evaluator, seed, best)
    finally:
        evaluator.close()
    # reason: the run this worker claimed, by its primary key.
    OptimisationRun.objects.unscoped().filter(pk=run.pk).update(
        best_candidate=best, comparison=comparison
    )
    _finish(run, evaluator, RunStatus.SUCCEEDED, detail=detail)
    return {"run": run.pk, "status": RunStatus.SUCCEEDED, "best": best.index}


def _best(run: OptimisationRun, index: int | None) -> Candidate:
    """GEPA's best on the train split (by aggregate score); after a spent budget, the best
    candidate fully scored so far."""
    candidates = list(Candidate.objects.filter(run=run))
    if index is not None:
        for candidate in candidates:
            if candidate.index == index:
                return candidate
    scored = [c for c in candidates if c.train_score is not None] or candidates
    return max(scored, key=lambda c: (c.train_score or 0.0, -c.index))


def _finish(run, evaluator, status, *, detail: str = "", error: str = "") -> None:
    _progress(run, evaluator, detail=detail)
    # reason: the run this worker claimed, by its primary key.
    OptimisationRun.objects.unscoped().filter(pk=run.pk).update(
        status=status, error=error, finished_at=timezone.now(), cancel_requested=False
    )


class _QuietLogger:
    def log(self, message: str) -> None:
        log.debug("gepa: %s", message)
