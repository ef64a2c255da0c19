"""Which candidate rows make the files: dedupe, split, overlap and limits, decided on compact arrays.

Every decision is a function of per-row keys and a seeded hash, never of a shuffle held in memory:
the same rows and seed give the same selection, whatever order or process computed them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int64s = npt.NDArray[np.int64]
UInt64s = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]
MASK64 = (1 << 64) - 1


def mix64(values: UInt64s, seed: int) -> UInt64s:
    """SplitMix64 finaliser of `values ^ seed`: a seeded, well-spread 64-bit hash (a bijection)."""
    with np.errstate(over="ignore"):
        z = values ^ np.uint64(seed & MASK64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass
class Dedupe:
    keep: Bools  # the winner of each group
    winner: Int64s  # for every row, the index of its group's winner
    same_target: Bools  # whether the row's target equals its winner's


def dedupe(groups: Int64s, approved: Int64s, refs: UInt64s, target_keys: Int64s) -> Dedupe:
    """One row per group: the most recently approved wins (ties: the newest row)."""
    count = len(groups)
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Dedupe(np.zeros(0, dtype=np.bool_), empty, np.zeros(0, dtype=np.bool_))
    # lexsort: last key is primary. Descending approval and row ref via negation / bitwise not.
    order = np.lexsort((~refs, -approved, groups))
    sorted_groups = groups[order]
    first = np.empty(count, dtype=np.bool_)
    first[0] = True
    np.not_equal(sorted_groups[1:], sorted_groups[:-1], out=first[1:])
    del sorted_groups  # these arrays are a million entries each: free them as soon as they are done
    leader = np.arange(count)
    leader[~first] = 0
    np.maximum.accumulate(leader, out=leader)
    winner = np.empty(count, dtype=np.int64)
    winner[order] = order[leader]
    del leader
    keep = np.zeros(count, dtype=np.bool_)
    keep[order[first]] = True
    return Dedupe(keep, winner, target_keys == target_keys[winner])


def held_out(split_keys: UInt64s, seed: int, fraction: float) -> Bools:
    """Rows whose seeded hash of the normalised source falls in the validation share."""
    threshold = np.uint64(min(int(fraction * 2.0**64), MASK64))
    return mix64(split_keys, seed) < threshold


def sample(candidates: Bools, refs: UInt64s, seed: int, max_count: int | None) -> Bools:
    """Of the candidates, the `max_count` with the smallest seeded hash (all of them if fewer)."""
    if max_count is None or int(candidates.sum()) <= max_count:
        return candidates.copy()
    indices = np.flatnonzero(candidates)
    keys = mix64(refs[indices], seed)
    chosen = indices[np.argpartition(keys, max_count - 1)[:max_count]]
    kept = np.zeros(len(candidates), dtype=np.bool_)
    kept[chosen] = True
    return kept


def fit_bytes(candidates: Bools, refs: UInt64s, nbytes: Int64s, seed: int, max_bytes: int | None) -> Bools:
    """Of the candidates, those that fit `max_bytes` taken in seeded-hash order."""
    if max_bytes is None or int(nbytes[candidates].sum()) <= max_bytes:
        return candidates.copy()
    indices = np.flatnonzero(candidates)
    order = indices[np.argsort(mix64(refs[indices], seed ^ 0x5BD1E995), kind="stable")]
    fits = order[np.cumsum(nbytes[order]) <= max_bytes]
    kept = np.zeros(len(candidates), dtype=np.bool_)
    kept[fits] = True
    return kept
