from django.contrib import admin

from apps.prompts.models import PromotionRequest, Prompt, PromptVersion, Tag, TagEvent


class UnscopedAdmin(admin.ModelAdmin):
    """Staff see every team's rows: the admin runs outside any team scope."""

    def get_queryset(self, request):
        return self.model.objects.unscoped()  # staff see every team


class ReadOnlyAdmin(UnscopedAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Prompt)
class PromptAdmin(ReadOnlyAdmin):
    list_display = ["name", "team", "owner", "created_at"]
    search_fields = ["name"]


@admin.register(PromptVersion)
class PromptVersionAdmin(ReadOnlyAdmin):
    """Versions are immutable: no add, change or delete here either."""

    list_display = ["prompt", "number", "kind", "author", "created_at"]
    list_select_related = ["prompt"]


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["prompt", "name", "version", "updated_at"]


@admin.register(TagEvent)
class TagEventAdmin(ReadOnlyAdmin):
    list_display = ["prompt", "tag_name", "from_version", "to_version", "actor_label", "created_at"]


@admin.register(PromotionRequest)
class PromotionRequestAdmin(ReadOnlyAdmin):
    list_display = ["prompt", "tag_name", "candidate", "status", "requester_label", "created_at"]
