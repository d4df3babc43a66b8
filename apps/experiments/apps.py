from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "apps.experiments"
    label = "experiments"

    def ready(self):
        from apps.experiments import gate
        from apps.experiments.views import policies

        # reason: these modules import models, which wait until the app registry is ready.
        from apps.prompts.gates import PromotionGate, register_promotion_gate

        # prompts asks this gate before approving a promotion of a protected tag.
        register_promotion_gate(
            PromotionGate(
                blockers=gate.approval_blockers,
                request_context=policies.promotion_panel_context,
                settings_context=policies.settings_panel_context,
                known_evidence=gate.known_evidence,
                evidence_label=gate.evidence_label,
            )
        )
