from rest_framework import serializers

from apps.playground.models import PlaygroundRun


class PlaygroundRunSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True, default=None)
    prompt_version_id = serializers.IntegerField(read_only=True, allow_null=True)
    provider_id = serializers.IntegerField(read_only=True, allow_null=True)
    cost = serializers.FloatField(read_only=True, allow_null=True)
    steps = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="A chain run's steps (kind chain) as they ran: name, prompt, version, "
        "messages sent, output or error, latency_ms, input_tokens, output_tokens, cost; "
        "[] for a text or chat run.",
    )

    class Meta:
        model = PlaygroundRun
        fields = [
            "id",
            "created_at",
            "user",
            "batch",
            "label",
            "prompt_version_id",
            "kind",
            "template",
            "messages",
            "variables_schema",
            "variables",
            "rendered",
            "provider_id",
            "provider_name",
            "model",
            "model_settings",
            "status",
            "output",
            "error_kind",
            "error_message",
            "input_tokens",
            "output_tokens",
            "latency_ms",
            "cost",
            "steps",
        ]
        read_only_fields = fields
