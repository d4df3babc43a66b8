"""The base of every annotation API view: the scope it needs and the lookups they share."""

from __future__ import annotations

from apps.annotations import selectors
from apps.annotations.api.serializers import ItemSerializer
from apps.annotations.models import AnnotationQueue, QueueItem
from apps.annotations.permissions import READ_SCOPE, SCOPE, can_manage
from apps.teams.api_base import TeamGenericAPIView


def valid_data(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class AnnotationsAPIView(TeamGenericAPIView):
    read_scope = READ_SCOPE
    write_scope = SCOPE

    def queue(self, queue_id) -> AnnotationQueue:
        return selectors.queue_for(team=self.team, actor=self.actor, queue_id=queue_id)

    def item(self, item_id) -> QueueItem:
        return selectors.item_for(team=self.team, actor=self.actor, item_id=item_id)

    def item_data(self, item) -> dict:
        item = selectors.item_with_details(item)
        return ItemSerializer(item, context=self.serializer_context()).data

    def can_manage(self) -> bool:
        return can_manage(self.actor, self.team)

    def serializer_context(self) -> dict:
        return {"hide_auto_scores_for_annotator": not self.can_manage()}
