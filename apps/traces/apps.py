from django.apps import AppConfig

from apps.core.hooks import hook_register


class TracesConfig(AppConfig):
    name = "apps.traces"
    label = "traces"

    def ready(self):
        # reason: these modules import models, which wait until the app registry is ready.
        from apps.prompts.rollout_measures import RolloutMeasure, register_rollout_measure
        from apps.traces import rollouts
        from apps.traces.scores import services as score_services

        # prompts' rollout page shows how the arms compare in production (traces sit above).
        register_rollout_measure(
            RolloutMeasure(page_context=rollouts.page_context, as_dict=rollouts.comparison_as_dict)
        )
        from django.db.models.signals import post_delete, post_save

        from apps.llm.models import ProviderConfig  # reason: models wait for the registry
        from apps.traces.cost import forget_changed_provider

        # Remembered prices must not outlive a change in this process.
        for name, signal in (("saved", post_save), ("deleted", post_delete)):
            signal.connect(
                forget_changed_provider,
                sender=ProviderConfig,
                dispatch_uid=f"traces-prices-provider-{name}",
            )
        # A queue's verdict on a span shows on its trace (see apps/traces/hooks.py).
        hook_register("annotations.verdict_saved", score_services.queue_verdict_record)
