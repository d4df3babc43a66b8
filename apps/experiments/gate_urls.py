"""Promotion-on-evidence pages, mounted under the prompts URLs (config/urls.py) where the
request and settings pages they belong to live; the views are experiments' own."""

from django.urls import path

from apps.experiments.views import policies

app_name = "gate"
urlpatterns = [
    path("requests/<int:promotion_id>/gate/", policies.promotion_gate_run, name="run"),
    path(
        "requests/<int:promotion_id>/evidence/",
        policies.promotion_evidence_add,
        name="evidence_add",
    ),
    path("<slug:prompt_name>/settings/policy/", policies.prompt_policy, name="policy"),
]
