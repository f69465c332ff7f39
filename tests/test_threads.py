"""The model's thread policy (assistant.llm.threads): fixed wins; otherwise it gives a core away
to other processes' load and takes it back when they stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.llm import threads
from assistant.llm.threads import ThreadPolicy


class Clock:
    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 10.0


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Clock, Path]:
    clock = Clock()
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock.wall)
    monkeypatch.setattr(threads.time, "process_time", lambda: clock.cpu)
    monkeypatch.setattr(threads, "cpu_threads", lambda: 2)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    return clock, tmp_path / "stat"


def _stat(path: Path, busy: int, idle: int) -> None:
    # user nice system idle iowait irq softirq steal
    path.write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n", "ascii")


def _step(
    clock: Clock, path: Path, seconds: float, ours: float, other: float, state: list[int]
) -> None:
    """Advance time: this process used ``ours`` cores, others ``other``, out of 2 (100 Hz)."""
    clock.wall += seconds
    clock.cpu += ours * seconds
    state[0] += int(100 * seconds * (ours + other))
    state[1] += int(100 * seconds * (2 - ours - other))
    _stat(path, state[0], state[1])


def test_fixed_count_is_never_changed(machine: tuple[Clock, Path]) -> None:
    clock, path = machine
    _stat(path, 0, 0)
    policy = ThreadPolicy(3, stat=path)
    assert policy.decide() == 3
    _step(clock, path, 5, 0.0, 2.0, [0, 0])
    assert policy.decide() == 3


def test_gives_a_core_to_a_busy_process_and_takes_it_back(machine: tuple[Clock, Path]) -> None:
    clock, path = machine
    state = [1000, 1000]
    _stat(path, *state)
    policy = ThreadPolicy(None, stat=path)
    assert policy.decide() == 2  # first call: no window yet, every allowed CPU
    _step(clock, path, 3, ours=1.0, other=1.0, state=state)  # something else fills a core
    assert policy.decide() == 1
    assert policy.other_load == pytest.approx(1.0, abs=0.05)
    _step(clock, path, 3, ours=1.0, other=0.5, state=state)  # above the give-back bar: stay
    assert policy.decide() == 1
    _step(clock, path, 3, ours=1.0, other=0.0, state=state)  # it stopped
    assert policy.decide() == 2


def test_a_flicker_under_the_bar_keeps_both_threads(machine: tuple[Clock, Path]) -> None:
    clock, path = machine
    state = [0, 0]
    _stat(path, *state)
    policy = ThreadPolicy(None, stat=path)
    policy.decide()
    _step(clock, path, 3, ours=1.5, other=0.4, state=state)
    assert policy.decide() == 2


def test_short_windows_and_missing_proc_keep_the_last_choice(
    machine: tuple[Clock, Path],
) -> None:
    clock, path = machine
    state = [0, 0]
    _stat(path, *state)
    policy = ThreadPolicy(None, stat=path)
    policy.decide()
    _step(clock, path, 0.05, ours=0.0, other=2.0, state=state)
    assert policy.decide() == 2  # 50 ms says too little
    path.unlink()
    _step(clock, path.parent / "elsewhere", 5, ours=0.0, other=2.0, state=state)
    assert policy.decide() == 2
