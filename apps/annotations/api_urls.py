from django.urls import path

from apps.annotations.api import annotations, items, queues

urlpatterns = [
    path("annotation-queues/", queues.QueueListCreateView.as_view(), name="annotation-queue-list"),
    path(
        "annotation-queues/<int:queue_id>/",
        queues.QueueDetailView.as_view(),
        name="annotation-queue-detail",
    ),
    path(
        "annotation-queues/<int:queue_id>/fill/",
        queues.QueueFillView.as_view(),
        name="annotation-queue-fill",
    ),
    path(
        "annotation-queues/<int:queue_id>/assign/",
        queues.QueueAssignView.as_view(),
        name="annotation-queue-assign",
    ),
    path(
        "annotation-queues/<int:queue_id>/items/",
        queues.QueueItemsView.as_view(),
        name="annotation-queue-items",
    ),
    path(
        "annotation-queues/<int:queue_id>/next/",
        queues.QueueNextView.as_view(),
        name="annotation-queue-next",
    ),
    path(
        "annotation-queues/<int:queue_id>/agreement/",
        queues.QueueAgreementView.as_view(),
        name="annotation-queue-agreement",
    ),
    path(
        "annotation-queues/<int:queue_id>/add-failures-to-dataset/",
        queues.QueueAddFailuresView.as_view(),
        name="annotation-queue-add-failures",
    ),
    path(
        "annotation-items/<int:queue_item_id>/",
        items.ItemDetailView.as_view(),
        name="annotation-item-detail",
    ),
    path(
        "annotation-items/<int:queue_item_id>/assign/",
        items.ItemAssignView.as_view(),
        name="annotation-item-assign",
    ),
    path(
        "annotation-items/<int:queue_item_id>/annotations/",
        items.ItemAnnotationsView.as_view(),
        name="annotation-item-annotations",
    ),
    path(
        "annotation-items/<int:queue_item_id>/skip/",
        items.ItemSkipView.as_view(),
        name="annotation-item-skip",
    ),
    path(
        "annotation-items/<int:queue_item_id>/decide/",
        items.ItemDecideView.as_view(),
        name="annotation-item-decide",
    ),
    path("annotations/", annotations.AnnotationListView.as_view(), name="annotation-list"),
    path(
        "annotations/<int:annotation_id>/add-to-dataset/",
        annotations.AnnotationAddToDatasetView.as_view(),
        name="annotation-add-to-dataset",
    ),
]
