"""Dataset request and response shapes."""

from __future__ import annotations

from rest_framework import serializers

from marketdata.models import Dataset
from marketdata.timeframes import TIMEFRAME_SECONDS
from marketdata.validation import POLICIES


class DatasetSerializer(serializers.ModelSerializer):
    completeness_score = serializers.IntegerField(read_only=True, allow_null=True)
    uploaded = serializers.SerializerMethodField(
        help_text="True for a CSV upload of yours; false for a shared provider cache."
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "symbol",
            "timeframe",
            "source",
            "name",
            "uploaded",
            "start",
            "end",
            "rows",
            "bytes",
            "checksum",
            "completeness_score",
            "created_at",
            "last_updated",
            "url",
        ]

    def get_uploaded(self, obj) -> bool:
        return obj.owner_id is not None

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        path = f"/api/v1/datasets/{obj.id}"
        return request.build_absolute_uri(path) if request else path


class DatasetDetailSerializer(DatasetSerializer):
    class Meta(DatasetSerializer.Meta):
        fields = DatasetSerializer.Meta.fields + ["quality_report"]


class DatasetListQuerySerializer(serializers.Serializer):
    symbol = serializers.RegexField(r"^[A-Za-z0-9._\-=^]{1,32}$", required=False)
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAME_SECONDS), required=False)
    source = serializers.ChoiceField(choices=["synthetic", "yahoo", "csv"], required=False)


class DatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with a time column and Open/High/Low/Close[/Volume], any case and separator."
    )
    symbol = serializers.RegexField(r"^[A-Za-z0-9._\-=^]{1,32}$", help_text="Market, e.g. XAUUSD.")
    timeframe = serializers.ChoiceField(
        choices=list(TIMEFRAME_SECONDS), required=False, help_text="Bar size; inferred from the spacing when omitted."
    )
    tz = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="IANA timezone of times written without an offset, e.g. UTC or "
        "America/New_York. Required for such times.",
    )
    policy = serializers.ChoiceField(
        choices=list(POLICIES),
        default="reject",
        help_text="reject: any problem refuses the file. repair: sort, drop "
        "duplicates and leave out bad rows, reporting them.",
    )


class DatasetRefreshResponseSerializer(DatasetDetailSerializer):
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(DatasetDetailSerializer.Meta):
        fields = DatasetDetailSerializer.Meta.fields + ["warnings"]
