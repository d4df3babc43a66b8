from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "apps.annotations"
    label = "annotations"

    def ready(self):
        from apps.teams.navigation import register_inbox_counter

        def my_queue(request):
            from apps.annotations.selectors import my_queue_count

            return my_queue_count(request)

        register_inbox_counter("my_queue", my_queue)
