"""OpenAPI description of API-key authentication (loaded by TeamsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.teams.authentication.ApiKeyAuthentication"
    match_subclasses = True  # e.g. the prompt-serving variant with its lookup cache
    name = "ApiKeyAuth"

    def __init__(self, target):
        super().__init__(target)
        from apps.teams.authentication import ApiKeyAuthentication

        # The schema registry tells components apart by class: a subclass needs its own name.
        if type(target) is not ApiKeyAuthentication:
            self.name = f"ApiKeyAuth{type(target).__name__}"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pyd_<prefix>_<secret>",
            "description": "A team API key from Settings → API keys.",
        }
