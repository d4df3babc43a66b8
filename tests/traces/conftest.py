"""Fixtures of the traces tests."""

from __future__ import annotations

import pytest
from promptyard import tracing

from tests.traces.helpers import MemoryExporter


@pytest.fixture
def memory():
    """The SDK's tracing configured to keep its spans in memory (see spans_by_name)."""
    exporter = MemoryExporter()
    tracing.configure_tracing(exporter=exporter, schedule_delay_millis=50)
    yield exporter
    tracing.shutdown_tracing()


@pytest.fixture
def priced(acme):
    """A provider of acme's that prices gpt-test (per million tokens: 2 in, 8 out)."""
    from apps.core.tenancy import team_scope
    from apps.llm.models import ProviderConfig

    with team_scope(acme):
        return ProviderConfig.objects.create(
            team=acme,
            name="priced",
            base_url="http://127.0.0.1:9/v1",
            prices={"gpt-test": {"input": 2.0, "output": 8.0}},
        )
