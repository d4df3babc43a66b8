from django.apps import AppConfig

from apps.teams.navigation import register_inbox_counter


class AnnotationsConfig(AppConfig):
    name = "apps.annotations"
    label = "annotations"

    def ready(self):
        # Selectors read models, which exist only once the app registry is ready.
        from apps.annotations.selectors import my_queue_count

        register_inbox_counter("my_queue", my_queue_count)
