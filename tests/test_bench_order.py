"""The benchmark's engine order (bench/order.py): every engine follows every other equally often."""

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "bench_order", Path(__file__).resolve().parents[1] / "bench" / "order.py"
)
assert _SPEC is not None and _SPEC.loader is not None
order = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(order)


@pytest.mark.parametrize("n", range(1, 9))
def test_each_ordered_pair_adjacent_equally_often(n):
    rows = order.balanced_orders(n)
    assert all(sorted(row) == list(range(n)) for row in rows)
    adjacent = Counter((a, b) for row in rows for a, b in zip(row, row[1:]))  # not itertools.pairwise: 3.8
    if n > 1:
        assert len(adjacent) == n * (n - 1)  # every ordered pair of distinct engines occurs
        assert len(set(adjacent.values())) == 1  # ... equally often
    firsts = Counter(row[0] for row in rows)
    assert len(firsts) == n and len(set(firsts.values())) == 1


def test_round_order_cycles_through_the_design():
    names = ["a", "b", "c", "d", "e"]
    cycle = len(order.balanced_orders(len(names)))
    orders = [order.round_order(names, r) for r in range(2 * cycle)]
    assert orders[:cycle] == orders[cycle:]
    assert len({tuple(o) for o in orders[:cycle]}) == cycle
    # Unlike a rotation, the engine before "a" changes from round to round.
    before_a = {o[o.index("a") - 1] for o in orders[:cycle] if o[0] != "a"}
    assert before_a == {"b", "c", "d", "e"}


def test_round_order_of_no_engines():
    assert order.round_order([], 3) == []
