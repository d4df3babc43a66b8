from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "apps.prompts"
    label = "prompts"

    def ready(self):
        from apps.prompts.selectors import needs_review_count
        from apps.teams.navigation import register_inbox_counter

        # base.html shows nav_counts.reviews next to "Prompts".
        register_inbox_counter("reviews", needs_review_count)
