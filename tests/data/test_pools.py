"""Pool shapes: the paper's rule and the LT-SSL rule (M1), consistent / uniform / reversed, with the labeled
images optionally included; exact per-class counts."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imbsemi.config import DataConfig, PoolConfig
from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.longtail import seed_streams
from imbsemi.data.pools import build_pool, pool_counts
from imbsemi.data.splits import LTSplits


def lt_ssl(m1: int, gamma: float) -> list[int]:
    """M_c = int(M1 * gamma^(-c/(C-1))) for C = 10, written out independently of the library."""
    return [int(m1 * gamma ** (-c / 9)) for c in range(10)]


# The LT-SSL settings of CIFAR-10-LT (N1/M1 at gamma 100 and 150), each unlabeled shape by its rule
@pytest.mark.parametrize("m1, gamma", [(3000, 100), (4000, 100), (3000, 150), (4000, 150)])
def test_lt_ssl_pools_have_the_rule_counts(m1: int, gamma: float) -> None:
    consistent, _ = pool_counts(PoolConfig(n_max=m1, rho_u=gamma), 10, 0)
    uniform, _ = pool_counts(PoolConfig(n_max=m1, rho_u=1), 10, 0)
    reversed_, total = pool_counts(PoolConfig(n_max=m1, rho_u=gamma, order="reversed"), 10, 0)
    assert consistent == lt_ssl(m1, gamma) and uniform == [m1] * 10
    assert reversed_ == lt_ssl(m1, gamma)[::-1] and total == sum(lt_ssl(m1, gamma))


def make_imb_data(max_num: int, gamma: float) -> list[int]:
    """The LT-SSL codes' count rule (DARP / ABC / ACR ``make_imb_data``): powers of mu, the last int(M1/gamma)."""
    mu = np.power(1 / gamma, 1 / 9)
    return [int(max_num / gamma) if i == 9 else int(max_num * np.power(mu, i)) for i in range(10)]


def test_counts_equal_the_lt_ssl_codes_rule() -> None:
    for m1 in (500, 1500, 3000, 4000):
        for gamma in (100, 150):
            assert pool_counts(PoolConfig(n_max=m1, rho_u=gamma), 10, 0)[0] == make_imb_data(m1, gamma)
    assert make_imb_data(3000, 100) == [3000, 1798, 1078, 646, 387, 232, 139, 83, 50, 30]


def _relevant(per_class: int) -> ImageArrays:
    images = np.zeros((10 * per_class, 1, 1, 1), np.uint8)
    return ImageArrays(images, np.repeat(np.arange(10), per_class), tuple("abcdefghij"),
                       Provenance.single("src", np.arange(10 * per_class)))


@pytest.mark.parametrize("order", ["same", "reversed"])
def test_paper_pools_in_either_order(order: str) -> None:
    relevant = _relevant(50_000)
    spec_12_2 = [24999, 14984, 8983, 5384, 3228, 1934, 1156, 693, 415, 249]  # rho_u 100, |labeled| 12,406
    pool, _ = build_pool(relevant, np.arange(len(relevant)), 12_406, PoolConfig(rho_u=100, order=order), None,
                         None, seed_streams(0))
    assert pool.class_counts() == (spec_12_2 if order == "same" else spec_12_2[::-1])


def test_reversed_pool_follows_the_sources_head_to_tail_order() -> None:
    relevant = _relevant(5_000)
    head_to_tail = (1, 2, 3, 4, 5, 6, 7, 8, 9, 0)  # SVHN: digit 1 is the labeled head
    pool, _ = build_pool(relevant, np.arange(len(relevant)), 0, PoolConfig(n_max=3000, rho_u=100, order="reversed"),
                         head_to_tail, None, seed_streams(0))
    rule = lt_ssl(3000, 100)[::-1]  # head-first positions; the labeled tail (digit 0) gets 3000
    assert pool.class_counts() == [rule[9]] + rule[:9]


def test_lt_ssl_relevance_scales_the_relevant_counts_and_keeps_the_size() -> None:
    relevant, irrelevant = _relevant(5_000), _relevant(5_000)
    config = PoolConfig(n_max=1000, rho_u=10, relevance=0.5)
    pool, _ = build_pool(relevant, np.arange(len(relevant)), 0, config, None, irrelevant, seed_streams(0))
    assert pool.class_counts() == [int(500 * 10 ** (-c / 9)) for c in range(10)]
    assert (pool.targets == -1).sum() == sum(pool.class_counts())  # relevance 0.5: as many irrelevant images


def test_digits_pool_with_the_labeled_images_included() -> None:
    config = DataConfig(n_max=30, rho=10, pool=PoolConfig(n_max=60, rho_u=10, order="reversed"))
    splits = LTSplits(config, 0)
    included = LTSplits(dataclasses.replace(config, pool=dataclasses.replace(config.pool, include_labeled=True)), 0)
    assert splits.pool.class_counts() == [int(60 * 10 ** (-c / 9)) for c in range(10)][::-1]
    assert len(included.pool) == len(splits.pool) + len(splits.labeled)
    assert included.pool.class_counts() == (np.add(splits.pool.class_counts(), splits.counts)).tolist()
    pool_ids = set(included.pool.provenance.index.tolist())
    assert set(splits.labeled.provenance.index.tolist()) <= pool_ids
