"""Hashed context tables: a context's value hashed to a bucket of counters, one bucket per context and nibble.

A bucket is BUCKET uint32 slots (64 bytes, one cache line): a check word taken from the hash, and the 15 nodes of
the binary tree of a 4-bit nibble (node 1, then 2 node + bit). A bucket whose check word differs belongs to
another context: it is cleared and taken over, so collisions cost a restart, not wrong statistics."""

import numpy as np
from numba import njit

BUCKET = 16


@njit(cache=True, nogil=True, inline="always")
def hash64(a, b):
    """64-bit mix of two integers (wrapping uint64 arithmetic)."""
    h = (np.uint64(a) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(b)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


@njit(cache=True, nogil=True, inline="always")
def bucket(slots, i, h, table_bits):
    """Start of the bucket of hash h in table i of slots (tables, 2**table_bits * BUCKET); a bucket whose check word
    differs is cleared."""
    b = np.int64(h >> np.uint64(64 - table_bits)) * BUCKET
    check = np.uint32(h & np.uint64(0xFFFFFFFF)) | np.uint32(1)
    if slots[i, b] != check:
        slots[i, b] = check
        for k in range(1, BUCKET):
            slots[i, b + k] = np.uint32(0)
    return b


@njit(cache=True, nogil=True, inline="always")
def new_tables(n, table_bits):
    """n empty tables of 2**table_bits buckets."""
    return np.zeros((n, (np.int64(1) << table_bits) * BUCKET), np.uint32)


@njit(cache=True, nogil=True, inline="always")
def buckets(slots, ctx, act, ch, table_bits, hashes, base):
    """For each active context a (index act[a]): its hash with its index and the channel into hashes[a], and the
    start of its bucket in table a into base[a]."""
    for a in range(act.shape[0]):
        hashes[a] = hash64(ctx[act[a]], act[a] * 4 + ch)
        base[a] = bucket(slots, a, hashes[a], table_bits)


@njit(cache=True, nogil=True, inline="always")
def rebucket(slots, hashes, key, table_bits, base):
    """base[a]: the bucket of hashes[a] hashed with key (the next nibble's buckets, keyed by the bits so far)."""
    for a in range(hashes.shape[0]):
        base[a] = bucket(slots, a, hash64(hashes[a], key), table_bits)
