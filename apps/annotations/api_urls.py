from django.urls import path

from apps.annotations import api

urlpatterns = [
    path("annotation-queues/", api.QueueListCreateView.as_view(), name="annotation-queue-list"),
    path(
        "annotation-queues/<int:queue_id>/",
        api.QueueDetailView.as_view(),
        name="annotation-queue-detail",
    ),
    path(
        "annotation-queues/<int:queue_id>/fill/",
        api.QueueFillView.as_view(),
        name="annotation-queue-fill",
    ),
    path(
        "annotation-queues/<int:queue_id>/assign/",
        api.QueueAssignView.as_view(),
        name="annotation-queue-assign",
    ),
    path(
        "annotation-queues/<int:queue_id>/items/",
        api.QueueItemsView.as_view(),
        name="annotation-queue-items",
    ),
    path(
        "annotation-queues/<int:queue_id>/next/",
        api.QueueNextView.as_view(),
        name="annotation-queue-next",
    ),
    path(
        "annotation-queues/<int:queue_id>/agreement/",
        api.QueueAgreementView.as_view(),
        name="annotation-queue-agreement",
    ),
    path(
        "annotation-queues/<int:queue_id>/add-failures-to-dataset/",
        api.QueueAddFailuresView.as_view(),
        name="annotation-queue-add-failures",
    ),
    path(
        "annotation-items/<int:queue_item_id>/",
        api.ItemDetailView.as_view(),
        name="annotation-item-detail",
    ),
    path(
        "annotation-items/<int:queue_item_id>/assign/",
        api.ItemAssignView.as_view(),
        name="annotation-item-assign",
    ),
    path(
        "annotation-items/<int:queue_item_id>/annotations/",
        api.ItemAnnotationsView.as_view(),
        name="annotation-item-annotations",
    ),
    path(
        "annotation-items/<int:queue_item_id>/skip/",
        api.ItemSkipView.as_view(),
        name="annotation-item-skip",
    ),
    path(
        "annotation-items/<int:queue_item_id>/decide/",
        api.ItemDecideView.as_view(),
        name="annotation-item-decide",
    ),
    path("annotations/", api.AnnotationListView.as_view(), name="annotation-list"),
    path(
        "annotations/<int:annotation_id>/add-to-dataset/",
        api.AnnotationAddToDatasetView.as_view(),
        name="annotation-add-to-dataset",
    ),
]
