"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class SkipTooManyRequests(logging.Filter):
    """Drops django.request's warning for a 429. A refusal by a quota or rate limit is the
    service working as configured, and a tenant flooding past its quota would otherwise
    write a log line for every refused request: the log would be the next thing it fills."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 429
