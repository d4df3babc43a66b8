from django.apps import AppConfig


class OptimisationConfig(AppConfig):
    name = "apps.optimisation"
    label = "optimisation"

    def ready(self):
        # Selectors read models, which exist only once the app registry is ready.
        from apps.optimisation import selectors
        from apps.teams.navigation import register_inbox_counter  # reason: beside the above

        register_inbox_counter("optimising", selectors.running_count)
