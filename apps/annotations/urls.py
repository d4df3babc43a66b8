from django.urls import path

from apps.annotations import views

app_name = "annotations"
urlpatterns = [
    path("", views.annotations_list, name="list"),
    path("new/", views.queue_create, name="queue_create"),
    path("inbox/", views.inbox, name="inbox"),
    path("queues/<int:queue_id>/", views.queue_detail, name="queue"),
    path("queues/<int:queue_id>/edit/", views.queue_edit, name="queue_edit"),
    path("queues/<int:queue_id>/fill/", views.queue_fill, name="queue_fill"),
    path("queues/<int:queue_id>/assign/", views.queue_assign, name="queue_assign"),
    path("queues/<int:queue_id>/start/", views.queue_start, name="queue_start"),
    path(
        "queues/<int:queue_id>/add-failures/",
        views.queue_add_failures,
        name="queue_add_failures",
    ),
    path("items/<int:queue_item_id>/", views.annotate, name="annotate"),
    path("items/<int:queue_item_id>/skip/", views.item_skip, name="item_skip"),
    path("items/<int:queue_item_id>/decide/", views.item_decide, name="item_decide"),
    path(
        "items/<int:queue_item_id>/add-to-dataset/",
        views.item_add_to_dataset,
        name="item_add_to_dataset",
    ),
]
