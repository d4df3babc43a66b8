from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TeamsConfig(AppConfig):
    name = "apps.teams"
    label = "teams"

    def ready(self):
        from apps.teams import schema  # noqa: F401  (registers the OpenAPI auth scheme)
        from apps.teams.keys import forget_changed_api_key

        # A remembered API key must not outlive its revocation in this process.
        post_save.connect(
            forget_changed_api_key, sender="teams.ApiKey", dispatch_uid="teams_api_key_saved"
        )
        post_delete.connect(
            forget_changed_api_key, sender="teams.ApiKey", dispatch_uid="teams_api_key_deleted"
        )
