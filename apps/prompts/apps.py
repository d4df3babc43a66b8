from django.apps import AppConfig

from apps.teams.navigation import register_inbox_counter


class PromptsConfig(AppConfig):
    name = "apps.prompts"
    label = "prompts"

    def ready(self):
        # Imported here: both read models, which are loaded only once the registry is ready.
        from apps.prompts import receivers
        from apps.prompts.selectors import needs_review_count

        receivers.connect()
        # base.html shows nav_counts.reviews next to "Prompts".
        register_inbox_counter("reviews", needs_review_count)
