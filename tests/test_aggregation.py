"""Eq. 6-7 on a hand-made example, for each kernel, with the kernels written out in plain Python."""

from __future__ import annotations

import math

import pytest
import torch

from lafa_pipeline.aggregation import NeighborScores, expectation, lafa_combine
from lafa_pipeline.config import LafaConfig

# A vocabulary of 4 tokens with 2-d static embeddings.
TABLE = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -0.5]])
QUERY = torch.tensor([0, 2])
NEIGHBOURS = [
    NeighborScores(torch.tensor([0, 1]), torch.tensor([2.0, 4.0])),
    NeighborScores(torch.tensor([2, 3, 0]), torch.tensor([3.0, 1.0, 6.0])),
]


def by_hand(k) -> list[float]:
    """E(w_i) = 1/|N| sum_j sum_t m_t k(h_i, h_t) / T_j, in plain Python."""
    out = []
    for q in QUERY.tolist():
        total = 0.0
        for nb in NEIGHBOURS:
            total += sum(float(m) * k(q, t) for t, m in zip(nb.token_ids.tolist(), nb.scores)) / len(nb.token_ids)
        out.append(total / len(NEIGHBOURS))
    return out


def vec(i):
    return TABLE[i].tolist()


def l2(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(vec(a), vec(b))))


def l1(a, b):
    return sum(abs(x - y) for x, y in zip(vec(a), vec(b)))


def dot(a, b):
    return sum(x * y for x, y in zip(vec(a), vec(b)))


HAND_KERNELS = {
    "indicator": lambda a, b: 1.0 if a == b else 0.0,
    "rbf": lambda a, b: math.exp(-(l2(a, b) ** 2) / 2.0**2),
    "laplacian": lambda a, b: math.exp(-l1(a, b) / 2.0**2),
    "cubic": lambda a, b: (7.0 * dot(a, b) + 0.0) ** 3,
    "cosine": lambda a, b: dot(a, b) / math.sqrt(dot(a, a) * dot(b, b)),
    "l2": lambda a, b: 1.0 / min(max(l2(a, b), 0.3), 3.0),
}


@pytest.mark.parametrize("kernel", sorted(HAND_KERNELS))
def test_expectation_matches_hand_computation(kernel):
    params = LafaConfig(kernel=kernel).resolved_kernel_params()
    got = expectation(QUERY, TABLE[QUERY], NEIGHBOURS, lambda ids: TABLE[ids], kernel, params)
    torch.testing.assert_close(got, torch.tensor(by_hand(HAND_KERNELS[kernel])), rtol=1e-5, atol=1e-6)


def test_indicator_example_by_numbers():
    # query token 0: neighbor 1 has it with score 2 of 2 tokens -> 1.0; neighbor 2 with 6 of 3 -> 2.0
    # E = (1.0 + 2.0) / 2 = 1.5; token 2: only neighbor 2, score 3 of 3 tokens -> 1.0 / 2 = 0.5
    got = expectation(QUERY, TABLE[QUERY], NEIGHBOURS, lambda ids: TABLE[ids], "indicator", {})
    torch.testing.assert_close(got, torch.tensor([1.5, 0.5]))
    torch.testing.assert_close(lafa_combine(torch.tensor([1.0, 1.0]), got, 0.44), torch.tensor([1.66, 1.22]))


def test_kernel_parameter_override():
    params = LafaConfig(kernel="rbf", kernel_params={"length_scale": 1.0}).resolved_kernel_params()
    got = expectation(QUERY, TABLE[QUERY], NEIGHBOURS, lambda ids: TABLE[ids], "rbf", params)
    expected = by_hand(lambda a, b: math.exp(-(l2(a, b) ** 2)))
    torch.testing.assert_close(got, torch.tensor(expected), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Unknown parameter.*'width'.*length_scale"):
        LafaConfig(kernel="rbf", kernel_params={"width": 1.0})


def test_no_neighbors_gives_zero():
    got = expectation(QUERY, TABLE[QUERY], [], lambda ids: TABLE[ids], "cosine", {})
    assert got.tolist() == [0.0, 0.0]
