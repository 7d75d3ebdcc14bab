"""The sample ring: order, wrap-around, capture times, drops, and a real two-thread run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from audio.ringbuffer import SampleRing


def test_reads_come_back_in_order_across_the_wrap_with_the_completing_blocks_time() -> None:
    ring = SampleRing(1000)
    ramp = np.arange(3000, dtype=np.float32)
    got: list[np.ndarray] = []
    times: list[float] = []
    pos = 0
    for k in range(30):  # blocks of 100 samples, hops of 64: hops straddle blocks and the wrap
        assert ring.write(ramp[pos : pos + 100], capture_time_s=float(k))
        pos += 100
        while (item := ring.read(64)) is not None:
            got.append(item[0])
            times.append(item[1])
    out = np.concatenate(got)
    assert np.array_equal(out, ramp[: out.shape[0]])
    assert out.shape[0] == 3000 - 3000 % 64
    # hop i ends at sample 64*(i+1); the block that completed it arrived at floor((end-1)/100)
    expected = [float((64 * (i + 1) - 1) // 100) for i in range(len(times))]
    assert times == expected
    assert ring.available == 3000 % 64
    rest = ring.read_rest()
    assert rest is not None
    assert np.array_equal(rest[0], ramp[-(3000 % 64) :])
    assert ring.read_rest() is None


def test_a_full_ring_drops_the_new_block_counts_it_and_keeps_the_old_audio() -> None:
    ring = SampleRing(256)
    assert ring.write(np.ones(200, dtype=np.float32), 0.0)
    assert not ring.write(np.full(100, 2.0, dtype=np.float32), 1.0)
    assert (ring.dropped_blocks, ring.dropped_samples, ring.overflows) == (1, 100, 1)
    ring.note_input_overflow()
    assert ring.input_overflows == 1 and ring.overflows == 2
    item = ring.read(200)
    assert item is not None and np.all(item[0] == 1.0)
    assert ring.free == 256


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SampleRing(10)
    with pytest.raises(ValueError, match="read size"):
        SampleRing(1000).read(0)


def test_wait_returns_on_write_and_times_out_without() -> None:
    ring = SampleRing(1000)
    assert not ring.wait(0.01)
    ring.write(np.zeros(10, dtype=np.float32))
    assert ring.wait(0.0)
    assert not ring.wait(0.01)  # the flag was cleared by the previous wait


def test_producer_and_consumer_threads_lose_nothing() -> None:
    ring = SampleRing(4096)
    total = 300_000
    signal = np.arange(total, dtype=np.float32)
    done = threading.Event()

    def produce() -> None:
        for i in range(0, total, 256):
            while not ring.write(signal[i : i + 256]):
                pass  # a well-sized consumer keeps up; retry instead of losing the ramp
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    got = []
    while not (done.is_set() and ring.available < 100):
        ring.wait(0.01)
        while (item := ring.read(100)) is not None:
            got.append(item[0])
    t.join()
    rest = ring.read_rest()
    if rest is not None:
        got.append(rest[0])
    assert np.array_equal(np.concatenate(got), signal)


def test_a_dropped_block_still_counts_as_a_sign_of_life_from_the_device() -> None:
    ring = SampleRing(128)
    ring.write(np.zeros(128, dtype=np.float32), 1.0)
    assert not ring.write(np.zeros(64, dtype=np.float32), 2.0)
    assert ring.last_write_time_s == 2.0
