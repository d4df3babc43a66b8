"""OpenAPI description of API-key authentication (loaded by TeamsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.teams.authentication.ApiKeyAuthentication"
    match_subclasses = True  # e.g. the prompt-serving variant with its lookup cache
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pyd_<prefix>_<secret>",
            "description": "A team API key from Settings → API keys.",
        }
