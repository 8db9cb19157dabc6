"""PairedLoader: B labeled and mu x B unlabeled images per step from independent seeded streams, every
image once per pass, a step's batch fixed by the seed and the step alone (resumable), ranks disjoint."""
from __future__ import annotations

import numpy as np
import torch

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.paired_loader import IndexStream, PairedLoader


def arrays(n: int, offset: int) -> ImageArrays:
    images = ((np.arange(n) + offset) % 256).astype(np.uint8).reshape(n, 1, 1, 1).repeat(4, 1).repeat(4, 2)
    return ImageArrays(images, np.arange(n) % 10, tuple("abcdefghij"), Provenance.single("s", np.arange(n)))


def identity(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return images.permute(0, 3, 1, 2).float()


def noisy(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return identity(images, generator) + torch.rand(images.shape[0], 1, 1, 1, generator=generator)


def loader(mu: int = 3, start: int = 0, stop: int = 50, **kwargs: object) -> PairedLoader:
    return PairedLoader(arrays(30, 0), arrays(70, 100), 8, mu, identity, noisy, seed=5, start=start, stop=stop,
                        strong_views=2, **kwargs)


def test_batches_have_the_step_shapes_and_matching_indices() -> None:
    batch = next(iter(loader()))
    assert batch.labeled.shape == (8, 1, 4, 4) and batch.weak.shape == (24, 1, 4, 4)
    assert len(batch.strong) == 2 and batch.strong[0].shape == (24, 1, 4, 4)
    assert torch.equal(batch.labeled[:, 0, 0, 0].long(), batch.labeled_index)  # image i has value i
    assert torch.equal(batch.weak[:, 0, 0, 0].long(), batch.unlabeled_index + 100)
    assert torch.equal(batch.targets, batch.labeled_index % 10)
    assert not torch.equal(batch.strong[0], batch.strong[1])  # two independent strong views


def test_every_image_once_per_pass() -> None:
    stream = IndexStream(30, 8, seed=1, stream=1)
    served = np.concatenate([stream.batch(step) for step in range(15)])  # 120 = 4 passes of 30
    for number in range(4):
        assert sorted(served[30 * number:30 * (number + 1)].tolist()) == list(range(30))
    assert not np.array_equal(served[:30], served[30:60])  # a new permutation each pass


def test_streams_are_independent_of_each_other() -> None:
    one, other = loader(mu=3), loader(mu=5)
    for step in (0, 7, 19):  # the unlabeled batch size moves nothing labeled
        assert torch.equal(one.batch(step).labeled_index, other.batch(step).labeled_index)
    assert not torch.equal(one.batch(7).unlabeled_index, other.batch(7).unlabeled_index[:24])


def test_a_step_batch_depends_on_the_seed_and_the_step_only() -> None:
    full = list(loader(start=0, stop=12))
    resumed = list(loader(start=9, stop=12))
    assert len(resumed) == 3
    for a, b in zip(full[9:], resumed):
        for name in ("labeled", "labeled_index", "weak", "unlabeled_index", "reference"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert all(torch.equal(x, y) for x, y in zip(a.strong, b.strong))
    other_seed = PairedLoader(arrays(30, 0), arrays(70, 100), 8, 3, identity, noisy, seed=6, start=0, stop=1)
    assert not torch.equal(other_seed.batch(0).labeled_index, full[0].labeled_index)


def test_ranks_take_disjoint_batches_of_one_stream() -> None:
    single = loader()
    ranks = [loader(rank=r, world_size=2) for r in (0, 1)]
    for step in range(3):
        assert torch.equal(ranks[0].batch(step).labeled_index, single.batch(2 * step).labeled_index)
        assert torch.equal(ranks[1].batch(step).unlabeled_index, single.batch(2 * step + 1).unlabeled_index)
