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
