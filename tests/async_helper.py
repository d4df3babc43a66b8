"""Run a coroutine in its own thread and event loop: the Playwright fixtures keep an
event loop running in the test thread, where asyncio.run() refuses to start."""

from __future__ import annotations

import asyncio
import threading


def run_async(make_coroutine):
    result: dict = {}

    def target():
        try:
            result["value"] = asyncio.run(make_coroutine())
        except BaseException as exc:  # re-raised in the test thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
