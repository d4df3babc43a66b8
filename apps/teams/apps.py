from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "apps.teams"
    label = "teams"

    def ready(self):
        from apps.teams import schema  # noqa: F401  (registers the OpenAPI auth scheme)
