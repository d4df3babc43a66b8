"""The framework's floors for benchmarks/prompt_fetch.py and trace_ingest.py: enabled only by
a benchmark setting (PROMPTYARD_BENCHMARK_VIEWS)."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def bare_json(request):
    return JsonResponse({"name": "floor", "version": 1, "template": "Hello {{ name }}"})


@csrf_exempt
def sink(request):
    """benchmarks/trace_ingest.py's floor: takes an OTLP export and keeps nothing (the same
    exporters, HTTP and Django request cycle, without decoding or storing)."""
    size = len(request.body)  # read it all, as the real endpoint does
    return HttpResponse(b"", content_type="application/x-protobuf", headers={"X-Read": str(size)})
