from django.apps import AppConfig

from apps.core.hooks import hook_register


class AnnotationsConfig(AppConfig):
    name = "apps.annotations"
    label = "annotations"

    def ready(self):
        from apps.teams.navigation import register_inbox_counter

        def my_queue(request):
            from apps.annotations.selectors import my_queue_count

            return my_queue_count(request)

        register_inbox_counter("my_queue", my_queue)

        # Traces, a sibling app, sends spans to queues and seeds them in its demo (see
        # apps/traces/hooks.py); neither app imports the other.
        from apps.annotations import demo, selectors, services  # they need the models loaded

        hook_register(
            "traces.span_queues",
            {
                "may_send": services.can_manage,
                "queues": selectors.visible_queues,
                "queue_get": selectors.queue_for,
                "send": services.queue_add_spans,
            },
        )
        hook_register("traces.demo_steps", demo.fill_from_spans)
