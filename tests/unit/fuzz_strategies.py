"""Hypothesis strategies shared by the parser fuzz tests (tests/unit/test_fuzz_*.py).

Random JSON rarely gets past a strict parser's first check, so the fuzzers mostly start from a
valid document and change it: :func:`mutated_json` replaces, deletes or adds values at random
places in the tree (with arbitrary JSON, values of the wrong type, boundary numbers and long
strings), or swaps two of the document's own values, which keeps them plausible.
:data:`FUZZ` is the one bound every fuzz test runs under: a fixed seed (``derandomize``, so CI
sees the same examples every time), no example database on disk, no deadline.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", " ", "a" * 10_000, "\x00", "\ud7ff", "../x", "SELECT 1", "0" * 64]),
)
#: Arbitrary JSON values (what a hostile file can put anywhere).
JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the tree, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated_json(draw: st.DrawFn, document: Any, max_mutations: int = 3) -> Any:
    """``document`` (JSON data) with one to ``max_mutations`` random changes."""
    mutated = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(mutated)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "swap", "delete", "add"]))
        if kind == "replace" or not path:
            new = draw(JSON)
        elif kind == "swap":
            new = copy.deepcopy(_get(mutated, draw(st.sampled_from(paths))))
        else:
            new = None
        if not path:
            mutated = new
            continue
        parent, last = _get(mutated, path[:-1]), path[-1]
        if kind == "delete":
            del parent[last]
        elif kind == "add":
            target = _get(mutated, path)
            if isinstance(target, dict):
                target[draw(st.text(max_size=12))] = draw(JSON)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(JSON))
            else:
                parent[last] = [target, draw(JSON)]
        else:
            parent[last] = new
    return mutated
