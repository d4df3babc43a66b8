"""The framework's floor for benchmarks/prompt_fetch.py: enabled only by a benchmark setting."""

from django.http import JsonResponse


def bare_json(request):
    return JsonResponse({"name": "floor", "version": 1, "template": "Hello {{ name }}"})
