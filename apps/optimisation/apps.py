from django.apps import AppConfig


class OptimisationConfig(AppConfig):
    name = "apps.optimisation"
    label = "optimisation"

    def ready(self):
        # Selectors read models, which exist only once the app registry is ready.
        from apps.experiments.evidence_kinds import (  # reason: beside the above
            EvidenceKind,
            evidence_kind_register,
        )
        from apps.optimisation import evidence, selectors
        from apps.teams.navigation import register_inbox_counter  # reason: beside the above

        register_inbox_counter("optimising", selectors.running_count)
        # A finished run's held-out comparison is evidence the promotion gate weighs.
        evidence_kind_register(
            EvidenceKind(
                name=evidence.KIND,
                label=evidence.LABEL,
                known=evidence.runs_of_team,
                judge=evidence.judge,
            )
        )
