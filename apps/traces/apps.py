from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "apps.traces"
    label = "traces"

    def ready(self):
        # reason: these modules import models, which wait until the app registry is ready.
        from apps.prompts.rollout_measures import RolloutMeasure, register_rollout_measure
        from apps.traces import rollouts

        # prompts' rollout page shows how the arms compare in production (traces sit above).
        register_rollout_measure(
            RolloutMeasure(page_context=rollouts.page_context, as_dict=rollouts.comparison_as_dict)
        )
