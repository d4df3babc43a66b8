"""A short per-process memory of hot-path lookups (apps.core.memo)."""

from __future__ import annotations

from apps.core import memo


def test_it_remembers_for_its_seconds_only(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(memo.time, "monotonic", lambda: now[0])
    remembered = memo.Remembered[str](5)
    remembered.put("k", "v")
    assert remembered.get("k") == "v"
    now[0] += 5
    assert remembered.get("k") is None


def test_it_starts_over_past_its_size_and_forgets_on_demand():
    remembered = memo.Remembered[int](60, most=2)
    remembered.put("a", 1)
    remembered.put("b", 2)
    remembered.put("c", 3)  # past the size: only the newest stays
    assert [remembered.get(k) for k in "abc"] == [None, None, 3]
    remembered.put("d", 4)
    remembered.forget(lambda value: value % 2 == 0)
    remembered.forget_key("c")
    assert [remembered.get(k) for k in "cd"] == [None, None]


def test_it_remembers_nothing_with_no_seconds():
    remembered = memo.Remembered[int](0)
    remembered.put("a", 1)
    assert remembered.get("a") is None
