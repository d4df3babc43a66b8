"""The WSGI entry point every web server (gunicorn, runserver) loads."""

from __future__ import annotations

import importlib
import sys


def test_it_bounds_how_long_a_request_thread_waits_for_the_interpreter(settings):
    settings.PROMPTYARD_WEB_SWITCH_INTERVAL = 0.002
    before = sys.getswitchinterval()
    try:
        import config.wsgi

        importlib.reload(config.wsgi)
        assert abs(sys.getswitchinterval() - 0.002) < 1e-9
        assert callable(config.wsgi.application)
    finally:
        sys.setswitchinterval(before)
