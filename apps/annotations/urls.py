from django.urls import path

from apps.annotations.views import annotate, queues

app_name = "annotations"
urlpatterns = [
    path("", queues.annotations_list, name="list"),
    path("new/", queues.queue_create, name="queue_create"),
    path("inbox/", queues.inbox, name="inbox"),
    path("queues/<int:queue_id>/", queues.queue_detail, name="queue"),
    path("queues/<int:queue_id>/edit/", queues.queue_edit, name="queue_edit"),
    path("queues/<int:queue_id>/fill/", queues.queue_fill, name="queue_fill"),
    path("queues/<int:queue_id>/assign/", queues.queue_assign, name="queue_assign"),
    path("queues/<int:queue_id>/start/", queues.queue_start, name="queue_start"),
    path(
        "queues/<int:queue_id>/add-failures/",
        queues.queue_add_failures,
        name="queue_add_failures",
    ),
    path("items/<int:queue_item_id>/", annotate.annotate, name="annotate"),
    path("items/<int:queue_item_id>/skip/", annotate.item_skip, name="item_skip"),
    path("items/<int:queue_item_id>/decide/", annotate.item_decide, name="item_decide"),
    path(
        "items/<int:queue_item_id>/add-to-dataset/",
        annotate.item_add_to_dataset,
        name="item_add_to_dataset",
    ),
]
