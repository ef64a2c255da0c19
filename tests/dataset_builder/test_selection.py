"""Dedupe, split, sampling and byte limits on small arrays with known answers."""

from __future__ import annotations

import numpy as np

from services.dataset_builder import selection


def u64(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.uint64)


def i64(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def test_the_most_recently_approved_row_of_a_group_wins() -> None:
    groups = i64([7, 7, 9, 7, 9])
    approved = i64([10, 30, 5, 20, 5])
    refs = u64([1, 2, 3, 4, 5])  # the tie in group 9 goes to the newer row (ref 5)
    targets = i64([100, 200, 300, 100, 300])
    result = selection.dedupe(groups, approved, refs, targets)
    assert result.keep.tolist() == [False, True, False, False, True]
    assert result.winner.tolist() == [1, 1, 4, 1, 4]
    # Row 0 and 3 translate differently from the winner (superseded); row 2 is an exact duplicate.
    assert result.same_target.tolist() == [False, True, True, False, True]


def test_dedupe_of_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert len(selection.dedupe(empty, empty, np.zeros(0, dtype=np.uint64), empty).keep) == 0


def test_held_out_share_is_seeded_and_about_the_fraction() -> None:
    keys = np.arange(100_000, dtype=np.uint64)
    first = selection.held_out(keys, 1, 0.1)
    assert abs(first.mean() - 0.1) < 0.005
    assert (selection.held_out(keys, 1, 0.1) == first).all()
    assert not (selection.held_out(keys, 2, 0.1) == first).all()


def test_sample_keeps_exactly_max_count_deterministically() -> None:
    candidates = np.ones(1000, dtype=np.bool_)
    candidates[::10] = False
    refs = np.arange(1000, dtype=np.uint64)
    kept = selection.sample(candidates, refs, 3, 50)
    assert int(kept.sum()) == 50
    assert not (kept & ~candidates).any()
    assert (selection.sample(candidates, refs, 3, 50) == kept).all()
    assert (selection.sample(candidates, refs, 4, 50) != kept).any()
    assert (selection.sample(candidates, refs, 3, None) == candidates).all()
    assert (selection.sample(candidates, refs, 3, 5000) == candidates).all()


def test_fit_bytes_keeps_what_fits_in_seeded_order() -> None:
    candidates = np.ones(10, dtype=np.bool_)
    refs = np.arange(10, dtype=np.uint64)
    nbytes = np.full(10, 100, dtype=np.int64)
    kept = selection.fit_bytes(candidates, refs, nbytes, 0, 450)
    assert int(kept.sum()) == 4
    assert int(nbytes[kept].sum()) <= 450
    assert (selection.fit_bytes(candidates, refs, nbytes, 0, None) == candidates).all()
