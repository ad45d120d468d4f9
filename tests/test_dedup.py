"""Duplicate suppression memory with in-flight claims."""

import threading

import pytest

from poundcake.dedup import Batch, DedupCache


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_committed_key_is_a_duplicate_within_the_window_only():
    clock = Clock()
    cache = DedupCache(window=60, max_entries=10, clock=clock)
    mine, _ = cache.claim("a", Batch())
    cache.commit("a", mine)
    assert cache.claim("a", Batch()) == (None, None)
    clock.now += 61
    again, theirs = cache.claim("a", Batch())
    assert again is not None and theirs is None


def test_released_key_can_be_claimed_again():
    cache = DedupCache(window=60, max_entries=10)
    mine, _ = cache.claim("a", Batch())
    cache.release("a", mine)
    assert mine.done and not mine.ok
    again, _ = cache.claim("a", Batch())
    assert again is not None


def test_second_claim_waits_for_the_first_and_sees_its_outcome():
    cache = DedupCache(window=60, max_entries=10)
    mine, _ = cache.claim("a", Batch())
    none, theirs = cache.claim("a", Batch())
    assert none is None and theirs is mine
    threading.Timer(0.05, cache.commit, ("a", mine)).start()
    assert theirs.wait(timeout=5) is True


def test_waiting_on_a_claim_that_fails_reports_failure():
    cache = DedupCache(window=60, max_entries=10)
    mine, _ = cache.claim("a", Batch())
    _, theirs = cache.claim("a", Batch())
    cache.release("a", mine)
    assert theirs.wait(timeout=1) is False


def test_memory_is_bounded_and_remembers_at_least_the_newest_half():
    cache = DedupCache(window=3600, max_entries=100)
    sizes = []
    for i in range(1000):
        claim, _ = cache.claim(str(i), Batch())
        cache.commit(str(i), claim)
        sizes.append(len(cache))
    assert 50 < max(sizes) <= 100
    assert cache.evictions == 1000 - len(cache)
    assert all(cache.claim(str(i), Batch()) == (None, None) for i in range(950, 1000))
    assert cache.claim("0", Batch())[0] is not None


def test_a_dispatch_in_flight_is_never_forgotten():
    cache = DedupCache(window=3600, max_entries=10)
    pending, _ = cache.claim("slow", Batch())
    for i in range(100):
        claim, _ = cache.claim(str(i), Batch())
        cache.commit(str(i), claim)
    assert cache.claim("slow", Batch()) == (None, pending)
    cache.commit("slow", pending)
    assert cache.claim("slow", Batch()) == (None, None)


def test_expired_keys_are_dropped_without_counting_as_evictions():
    clock = Clock()
    cache = DedupCache(window=60, max_entries=10, clock=clock)
    for i in range(5):
        claim, _ = cache.claim(str(i), Batch())
        cache.commit(str(i), claim)
        clock.now += 100  # each key expires before the next arrives
    for i in range(5, 30):
        claim, _ = cache.claim(str(i), Batch())
        cache.commit(str(i), claim)
    assert len(cache) <= 10
    assert cache.evictions == 30 - 5 - len(cache)


def test_zero_window_remembers_nothing():
    cache = DedupCache(window=0, max_entries=10)
    claim, _ = cache.claim("a", Batch())
    cache.commit("a", claim)
    assert len(cache) == 0
    assert cache.claim("a", Batch())[0] is not None


def test_invalid_bounds_are_refused():
    with pytest.raises(ValueError):
        DedupCache(window=-1, max_entries=10)
    with pytest.raises(ValueError):
        DedupCache(window=1, max_entries=0)


def test_a_batch_ends_when_all_its_claims_end():
    cache = DedupCache(window=60, max_entries=10)
    batch = Batch()
    first, _ = cache.claim("a", batch)
    second, _ = cache.claim("b", batch)
    cache.commit("a", first)
    assert first.wait(timeout=0) is True
    assert batch.wait(timeout=0.01) is False
    cache.release("b", second)
    assert batch.wait(timeout=0) is True
    assert second.wait(timeout=0) is False
