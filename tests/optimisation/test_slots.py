"""The run's concurrency slots: the search's calls go first; background calls fill the rest."""

from __future__ import annotations

import asyncio
import threading

from apps.optimisation.evaluation import _Slots


def _run(scenario) -> None:
    """asyncio.run in a thread of its own: a browser test earlier in the session leaves
    Playwright's loop running in this one."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the scenario did not finish"
    if failures:
        raise failures[0]


def test_it_keeps_a_minibatch_of_slots_free_for_the_search():
    async def scenario():
        slots = _Slots(8, reserve=4)
        held: list[str] = []
        release = asyncio.Event()

        async def call(name: str, background: bool) -> None:
            async with slots.slot(background=background):
                held.append(name)
                await release.wait()

        background = [asyncio.create_task(call(f"b{i}", True)) for i in range(10)]
        await asyncio.sleep(0)
        assert len(held) == 4  # the background's share, however many wait
        search = [asyncio.create_task(call(f"s{i}", False)) for i in range(4)]
        await asyncio.sleep(0)
        assert sorted(held[4:]) == ["s0", "s1", "s2", "s3"]  # no wait behind the background
        release.set()
        await asyncio.gather(*background, *search)
        assert slots.used == 0 and slots.background == 0

    _run(scenario)


def test_it_hands_a_freed_slot_to_a_waiting_search_call_first():
    async def scenario():
        slots = _Slots(2, reserve=0)
        order: list[str] = []
        gates = {name: asyncio.Event() for name in ("b0", "b1", "b2", "s0")}

        async def call(name: str, background: bool) -> None:
            async with slots.slot(background=background):
                order.append(name)
                await gates[name].wait()

        tasks = [asyncio.create_task(call(n, True)) for n in ("b0", "b1", "b2")]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(call("s0", False)))
        await asyncio.sleep(0)
        assert order == ["b0", "b1"]  # both slots taken; b2 and s0 wait
        gates["b0"].set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert order == ["b0", "b1", "s0"]  # the search call, though b2 waited longer
        for gate in gates.values():
            gate.set()
        await asyncio.gather(*tasks)
        assert order[-1] == "b2" and slots.used == 0

    _run(scenario)


def test_it_gives_back_a_slot_handed_to_a_cancelled_waiter():
    async def scenario():
        slots = _Slots(1, reserve=0)
        release = asyncio.Event()

        async def call(background: bool) -> None:
            async with slots.slot(background=background):
                await release.wait()

        first = asyncio.create_task(call(False))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(call(False))
        await asyncio.sleep(0)
        waiting.cancel()
        release.set()
        await first
        await asyncio.gather(waiting, return_exceptions=True)
        assert slots.used == 0

    _run(scenario)
