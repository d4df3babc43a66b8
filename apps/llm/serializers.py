from rest_framework import serializers

from apps.llm.models import ProviderConfig, ProviderKind


class ProviderSerializer(serializers.ModelSerializer):
    """A provider as the API shows it: never the key, only whether one is set and its last 4."""

    api_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    clear_key = serializers.BooleanField(write_only=True, required=False, default=False)
    has_key = serializers.BooleanField(read_only=True)
    kind = serializers.ChoiceField(choices=ProviderKind.choices, required=False)
    base_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    models = serializers.ListField(child=serializers.CharField(), required=False)
    prices = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField(min_value=0)), required=False
    )
    timeout_seconds = serializers.FloatField(
        required=False, min_value=0, max_value=600, help_text="Above 0, at most 600."
    )
    max_retries = serializers.IntegerField(required=False, min_value=0, max_value=10)

    class Meta:
        model = ProviderConfig
        fields = [
            "id",
            "name",
            "kind",
            "base_url",
            "api_key",
            "clear_key",
            "has_key",
            "key_last4",
            "models",
            "prices",
            "is_demo",
            "timeout_seconds",
            "max_retries",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "has_key", "key_last4", "is_demo", "created_at", "updated_at"]


class ConnectionResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    models = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()
    kind = serializers.CharField(allow_blank=True)


class TeamDefaultsSerializer(serializers.Serializer):
    """The team's default provider and model: what versions saved without a model run with."""

    default_provider = serializers.IntegerField(allow_null=True, required=False)
    default_provider_name = serializers.CharField(read_only=True)
    default_model = serializers.CharField(max_length=200, allow_blank=True, required=False)
