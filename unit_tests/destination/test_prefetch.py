"""Input read on its own thread: items in order, None while the input is silent, errors and
closing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from destination_crmone.delivery.prefetch import Prefetch


def test_items_come_in_order_and_silence_yields_none_while_the_input_stays_open() -> None:
    resume = threading.Event()

    def silent_source() -> Iterator[int]:
        yield 1
        yield 2
        resume.wait(5)  # the source pauses, its output stays open
        yield 3

    seen: list[int | None] = []
    started = time.monotonic()
    for item in Prefetch(silent_source(), idle=0.05):
        seen.append(item)
        if seen.count(None) == 4:
            resume.set()
    assert [item for item in seen if item is not None] == [1, 2, 3]
    assert seen[:2] == [1, 2] and seen.count(None) >= 4
    assert time.monotonic() - started < 4  # did not wait for the source to speak


def test_an_error_of_the_input_is_raised_after_the_items_before_it() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("bad input")

    got: list[int | None] = []
    with pytest.raises(ValueError, match="bad input"):
        for item in Prefetch(broken(), idle=0.05):
            got.append(item)
    assert [item for item in got if item is not None] == [1]


def test_reading_ahead_is_bounded_and_stops_when_closed() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    reader = Prefetch(endless(), idle=0.02, capacity=10)
    first = next(item for item in reader if item is not None)
    time.sleep(0.2)
    assert first == 0 and len(produced) <= 12  # capacity + the item in hand + one waiting
    reader.close()
    time.sleep(0.1)
    assert not reader._thread.is_alive()
