from django.urls import path

from apps.optimisation import api

urlpatterns = [
    path("optimisations/", api.OptimisationListCreateView.as_view(), name="optimisation-list"),
    path(
        "optimisations/<int:optimisation_id>/",
        api.OptimisationDetailView.as_view(),
        name="optimisation-detail",
    ),
    path(
        "optimisations/<int:optimisation_id>/start/",
        api.OptimisationStartView.as_view(),
        name="optimisation-start",
    ),
    path(
        "optimisations/<int:optimisation_id>/cancel/",
        api.OptimisationCancelView.as_view(),
        name="optimisation-cancel",
    ),
    path(
        "optimisations/<int:optimisation_id>/resume/",
        api.OptimisationResumeView.as_view(),
        name="optimisation-resume",
    ),
    path(
        "optimisations/<int:optimisation_id>/promotion/",
        api.OptimisationPromotionView.as_view(),
        name="optimisation-promotion",
    ),
]
