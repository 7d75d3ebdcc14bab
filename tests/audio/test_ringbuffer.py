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


def _ramp_producer(ring: SampleRing) -> tuple[np.ndarray, threading.Thread, threading.Event]:
    """Start a thread writing a 300,000-sample ramp in 256-sample blocks; returns the ramp,
    the thread and the event it sets when done (it also wakes the ring then)."""
    signal = np.arange(300_000, dtype=np.float32)
    done = threading.Event()

    def produce() -> None:
        for i in range(0, signal.size, 256):
            while not ring.write(signal[i : i + 256]):
                pass  # a well-sized consumer keeps up; retry instead of losing the ramp
        done.set()
        ring.wake()

    t = threading.Thread(target=produce)
    t.start()
    return signal, t, done


def _rest(ring: SampleRing, t: threading.Thread, got: list[np.ndarray]) -> np.ndarray:
    t.join()
    rest = ring.read_rest()
    if rest is not None:
        got.append(rest[0])
    return np.concatenate(got)


def test_producer_and_consumer_threads_lose_nothing() -> None:
    ring = SampleRing(4096)
    signal, t, done = _ramp_producer(ring)
    got = []
    while not (done.is_set() and ring.available < 100):
        ring.wait(0.01)
        while (item := ring.read(100)) is not None:
            got.append(item[0])
    assert np.array_equal(_rest(ring, t, got), signal)


def test_a_dropped_block_still_counts_as_a_sign_of_life_from_the_device() -> None:
    ring = SampleRing(128)
    ring.write(np.zeros(128, dtype=np.float32), 1.0)
    assert not ring.write(np.zeros(64, dtype=np.float32), 2.0)
    assert ring.last_write_time_s == 2.0


def test_read_hops_gives_what_reads_of_one_hop_give() -> None:
    hop = 64
    batched, single = SampleRing(1000), SampleRing(1000)
    ramp = np.arange(5000, dtype=np.float32)
    got_b: list[np.ndarray] = []
    times_b: list[float] = []
    got_s: list[np.ndarray] = []
    times_s: list[float] = []
    for k in range(50):  # blocks of 100 samples, batches of up to 3 hops, across the wrap
        block = ramp[100 * k : 100 * (k + 1)]
        assert batched.write(block, float(k)) and single.write(block, float(k))
        while (many := batched.read_hops(hop, 3)) is not None:
            assert many[0].shape[0] == hop * len(many[1]) and 1 <= len(many[1]) <= 3
            got_b.append(many[0])
            times_b += many[1]
        while (one := single.read(hop)) is not None:
            got_s.append(one[0])
            times_s.append(one[1])
    assert np.array_equal(np.concatenate(got_b), np.concatenate(got_s))
    assert times_b == times_s
    assert batched.available == single.available < hop
    with pytest.raises(ValueError, match="positive"):
        batched.read_hops(0, 3)


def test_wait_available_reports_whether_enough_is_there() -> None:
    ring = SampleRing(1000)
    assert not ring.wait_available(200, 0.01)
    ring.write(np.zeros(100, dtype=np.float32))
    assert not ring.wait_available(200, 0.01)  # a write below the threshold does not count
    ring.write(np.zeros(100, dtype=np.float32))
    assert ring.wait_available(200, 0.01)
    assert ring.wait_available(150, 0.0)
    ring.wake()
    assert not ring.wait_available(300, 5.0)  # woken: returns at once with too little
    with pytest.raises(ValueError, match="positive"):
        ring.wait_available(0, 0.0)


def test_a_waiting_consumer_sleeps_through_writes_below_its_threshold() -> None:
    ring = SampleRing(4096)
    outcome: list[bool] = []
    ring.wait_available(768, 0.0)  # nothing there yet: the threshold is now 768 samples
    consumer = threading.Thread(target=lambda: outcome.append(ring.wait_available(768, 30.0)))
    consumer.start()
    ring.write(np.zeros(256, dtype=np.float32))
    ring.write(np.zeros(256, dtype=np.float32))
    consumer.join(0.2)
    assert consumer.is_alive() and outcome == []  # two blocks of three: still asleep
    ring.write(np.zeros(256, dtype=np.float32))
    consumer.join(30.0)
    assert outcome == [True]


def test_batched_consumer_and_producer_threads_lose_nothing() -> None:
    ring = SampleRing(4096)
    signal, t, done = _ramp_producer(ring)
    got = []
    while not (done.is_set() and ring.available < 100):
        ring.wait_available(300, 0.05)
        while (item := ring.read_hops(100, 8)) is not None:
            got.append(item[0])
    assert np.array_equal(_rest(ring, t, got), signal)
