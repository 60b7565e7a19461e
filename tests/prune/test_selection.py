from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from calray.prune.selection import lowest_k, n_of_m


@settings(max_examples=60, deadline=None)
@given(numel=st.integers(1, 300), levels=st.integers(1, 5), data=st.data())
def test_lowest_k_is_the_stable_sort_prefix_even_with_many_ties(numel, levels, data):
    k = data.draw(st.integers(0, numel))
    seed = data.draw(st.integers(0, 2**16))
    scores = torch.randint(levels, (numel,), generator=torch.Generator().manual_seed(seed)).float()
    expected = torch.zeros(numel, dtype=torch.bool)
    expected[torch.argsort(scores, stable=True)[:k]] = True
    assert torch.equal(lowest_k(scores, k), expected)
    assert torch.equal(lowest_k(scores, k, sync_free=True), expected)  # the accelerators' path


def test_n_of_m_picks_the_lowest_of_each_group_ties_by_position():
    scores = torch.tensor([[3.0, 1.0, 2.0, 0.0, 5.0, 5.0, 5.0, 5.0]])
    assert n_of_m(scores, 2, 4).tolist() == [[False, True, False, True, True, True, False, False]]
