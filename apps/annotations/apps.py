from django.apps import AppConfig

from apps.core.hooks import hook_register
from apps.teams.navigation import register_inbox_counter


class AnnotationsConfig(AppConfig):
    name = "apps.annotations"
    label = "annotations"

    def ready(self):
        # These modules read and write models, which exist only once the app registry is ready.
        from apps.annotations import demo, permissions, selectors, services

        register_inbox_counter("my_queue", selectors.my_queue_count)

        # Traces, a sibling app, sends spans to queues and seeds them in its demo (see
        # apps/traces/hooks.py); neither app imports the other.
        hook_register(
            "traces.span_queues",
            {
                "may_send": permissions.can_manage,
                "queues": selectors.visible_queues,
                "queue_get": selectors.queue_for,
                "send": services.queue_add_spans,
                "verdict": services.span_annotation_save,
            },
        )
        hook_register("traces.demo_steps", demo.fill_from_spans)
