"""The order engines take turns in, round by round.

Each timed call inherits state from the call just before it. On this VM the strongest such state
is memory: pages freed a moment ago are fast to touch again, pages free for longer were handed
back to the host ("Free page reporting enabled" in the kernel log) and are slow to touch. An
engine that always follows the same engine always inherits the same state: with the order merely
rotated each round, zarrs_cffi always followed tensorstore, and its whole-array read into a new
512 MiB array (f32) took 270-1430 ms after tensorstore against 250-400 ms after zarrs-python
(`read_new` only; the buffer-filling workloads allocate nothing).

So the rounds follow a Williams design: over the design's rows every engine comes right after
every other engine equally often, and every engine comes first equally often.
"""

from __future__ import annotations


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of ``n`` engines (indices) for successive rounds, in which each ordered pair of
    engines is adjacent equally often over the whole cycle: ``n`` rows for even ``n``, ``2n``
    for odd ``n`` (each row followed by its mirror image, so short runs stay near balance)."""
    if n < 1:
        return [[]]
    first = [0]
    low, high = 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(i + shift) % n for i in first] for shift in range(n)]
    if n % 2:
        rows = [order for row in rows for order in (row, row[::-1])]
    return rows


def round_order(names: list[str], round_index: int) -> list[str]:
    """The order ``names`` take turns in during round ``round_index``."""
    rows = balanced_orders(len(names))
    return [names[i] for i in rows[round_index % len(rows)]]
