from importlib import import_module

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from apps.teams import views as team_views

# Team pages: TeamMiddleware turns <team_slug> into request.team and the team's scope.
team_patterns = [
    path("", include("apps.teams.urls")),
    path("prompts/", include("apps.prompts.urls")),
    # Promotion-on-evidence pages of prompts' requests and settings, served by experiments.
    path("prompts/", include("apps.experiments.gate_urls")),
    path("datasets/", include("apps.datasets.urls")),
    path("llm/", include("apps.llm.urls")),
    path("experiments/", include("apps.experiments.urls")),
    path("playground/", include("apps.playground.urls")),
    path("annotations/", include("apps.annotations.urls")),
    path("traces/", include("apps.traces.urls")),
    path("optimisation/", include("apps.optimisation.urls")),
]

# The API is mounted twice: team from the API key (/api/v1/...) or from the URL
# (/api/v1/t/<team_slug>/..., for signed-in users and the browsable API). The apps' routes
# are joined into one flat list, in this order: resolving a URL walks one level fewer and
# raises no Resolver404 per app it passes. Prompts come first: their serving routes are
# what applications call at run time, the API's busiest by far (no two apps' routes
# overlap, so the order decides nothing else).
API_APPS = (
    "prompts",
    "teams",
    "datasets",
    "llm",
    "experiments",
    "playground",
    "annotations",
    "traces",
    "optimisation",
)
api_patterns = [
    route for app in API_APPS for route in import_module(f"apps.{app}.api_urls").urlpatterns
]

urlpatterns = [
    path("", team_views.home, name="home"),
    path("accounts/", include("apps.accounts.urls")),
    path("teams/", include("apps.teams.account_urls")),
    path("t/<slug:team_slug>/", include(team_patterns)),
    path("api/v1/", include((api_patterns, "api"), namespace="api")),
    path("api/v1/t/<slug:team_slug>/", include((api_patterns, "api"), namespace="team_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script. Its
    # page keeps one inline <style> and Swagger UI draws icons from data: URLs.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="api-docs",
    ),
    # ReDoc writes its styles inline and parses in a blob: worker; this page alone allows it.
    path(
        "api/redoc/",
        csp_update(
            {"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"], "img-src": ["data:"]}
        )(SpectacularRedocView.as_view(url_name="schema")),
        name="api-redoc",
    ),
    path("", include("apps.traces.otlp_urls")),
    path("admin/", admin.site.urls),
]

# A path under /api/ that matches no route is an API answer too (JSON, the error body).
handler404 = "apps.core.errors.page_not_found"

if settings.PROMPTYARD_BENCHMARK_VIEWS:
    from config.benchmark_views import bare_json, sink

    urlpatterns.append(path("__bench__/bare.json", bare_json))
    urlpatterns.append(path("__bench__/v1/traces", sink))
