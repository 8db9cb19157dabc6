"""The device-resident fast path (DeviceLoader + CropFlipTransform) and the classic DataLoader path
(classic_loader) serve the same images per epoch, with the same augmentation distribution and the
same class-balanced re-sampling.

Every test image codes its identity and, per pixel, its own row and column, so a served (cropped,
maybe flipped) image can be decoded back to (identity, crop offset, flip) and checked pixel by pixel.
Mean 0 and std 1 make every served value pixel / 255 on both paths.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.augment import CropFlipTransform
from imbsemi.data.classic import classic_loader
from imbsemi.data.loader import DeviceLoader

SIZE, PAD, STEP = 8, 2, 20  # 8 x 8 images; offsets (dy, dx) in 0..2 PAD, i.e. 5 x 5
MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
CLASSES = ("a", "b", "c")


@pytest.fixture(autouse=True)
def one_thread_and_own_rng():
    """Tiny batches run fastest on one thread; the classic path's transforms draw from torch's global
    stream when workers = 0, so it is seeded here and restored afterwards for the other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield
    torch.set_num_threads(threads)


def coded_arrays(n: int, targets: np.ndarray | None = None) -> ImageArrays:
    """Image i: channel 0 = i + 1 everywhere, channel 1 = (column + 1) x STEP, channel 2 = (row + 1) x STEP.
    Every pixel is nonzero, so zero padding is told apart from image pixels."""
    assert n <= 254
    images = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    images[..., 0] = (np.arange(n) + 1).reshape(n, 1, 1)
    images[..., 1] = (np.arange(SIZE) + 1) * STEP
    images[..., 2] = ((np.arange(SIZE) + 1) * STEP).reshape(SIZE, 1)
    targets = np.arange(n) % len(CLASSES) if targets is None else targets
    return ImageArrays(images, np.asarray(targets, dtype=np.int64), CLASSES, Provenance.single("coded", np.arange(n)))


def device_loader(arrays: ImageArrays, batch: int, seed: int, sample_weights: np.ndarray | None = None,
                  drop_last: bool = False) -> DeviceLoader:
    transform = CropFlipTransform(torch.tensor(MEAN), torch.tensor(STD), padding=PAD, flip=True)
    return DeviceLoader(arrays, batch, transform, shuffle=True, seed=seed, sample_weights=sample_weights,
                        drop_last=drop_last)


def torch_loader(arrays: ImageArrays, batch: int, seed: int, sample_weights: np.ndarray | None = None,
                 drop_last: bool = False):
    return classic_loader(arrays, batch, MEAN, STD, padding=PAD, flip=True, workers=0, seed=seed,
                          sample_weights=sample_weights, drop_last=drop_last)


def epoch(loader) -> tuple[np.ndarray, np.ndarray, int]:
    """One pass: served images as uint8 (M, H, W, C), their targets (M,), and the number of batches."""
    images, targets = [], []
    for x, y in loader:
        assert x.dtype == torch.float32 and x.shape[1:] == (3, SIZE, SIZE)
        images.append((x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        targets.append(y.numpy())
    return np.concatenate(images), np.concatenate(targets), len(images)


def decode(served: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(identity, dy, dx, flipped) of served images. Output pixels (r, c) with PAD <= r, c < SIZE - PAD
    always come from the image, whatever the offset, so (3, 3) and (3, 4) are read there."""
    a, b = served[:, 3, 3].astype(np.int64), served[:, 3, 4].astype(np.int64)
    identity = a[:, 0] - 1
    row, col, next_col = a[:, 2] // STEP - 1, a[:, 1] // STEP - 1, b[:, 1] // STEP - 1
    flipped = next_col < col
    dy = row - 3 + PAD
    dx = np.where(flipped, col - (SIZE - 1 - 3), col - 3) + PAD  # flipped: output column 3 is crop column 4
    return identity, dy, dx, flipped


def reference(arrays: ImageArrays, identity: np.ndarray, dy: np.ndarray, dx: np.ndarray,
              flipped: np.ndarray) -> np.ndarray:
    """torchvision's RandomCrop(padding) + RandomHorizontalFlip of the inputs at the decoded parameters."""
    padded = np.pad(arrays.images, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)))
    crops = np.stack([padded[i, y:y + SIZE, x:x + SIZE] for i, y, x in zip(identity, dy, dx)])
    return np.where(flipped.reshape(-1, 1, 1, 1), crops[:, :, ::-1], crops)


def check_served(arrays: ImageArrays, served: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Every served image is exactly a padded crop (+ flip) of an input image, with that image's target;
    returns the identities."""
    identity, dy, dx, flipped = decode(served)
    assert identity.min() >= 0 and identity.max() < len(arrays)
    assert dy.min() >= 0 and dy.max() <= 2 * PAD and dx.min() >= 0 and dx.max() <= 2 * PAD
    np.testing.assert_array_equal(served, reference(arrays, identity, dy, dx, flipped))
    np.testing.assert_array_equal(targets, arrays.targets[identity])
    return identity


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize(("n", "batch"), [(48, 8), (50, 8), (7, 7), (5, 8)])
def test_one_epoch_serves_distinct_input_images_and_the_same_count_on_both_paths(n: int, batch: int,
                                                                                  drop_last: bool) -> None:
    """By default every image exactly once per epoch (a partial last batch); with drop_last full batches only."""
    arrays = coded_arrays(n)
    served_counts = {}
    for name, loader in (("device", device_loader(arrays, batch, 3, drop_last=drop_last)),
                         ("torch", torch_loader(arrays, batch, 3, drop_last=drop_last))):
        images, targets, batches = epoch(loader)
        identity = check_served(arrays, images, targets)
        assert batches == len(loader)
        if drop_last:
            assert len(images) == len(loader) * loader.batch_size
        else:
            assert sorted(identity.tolist()) == list(range(n))
        assert len(set(identity.tolist())) == len(identity)  # no repeats within an epoch
        served_counts[name] = (len(loader), len(images))
    assert served_counts["device"] == served_counts["torch"]


def test_device_epochs_are_reproducible_for_a_seed() -> None:
    arrays = coded_arrays(50)

    def two_epochs(seed: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
        loader = device_loader(arrays, 8, seed)
        return [epoch(loader) for _ in range(2)]

    first, again, other = two_epochs(0), two_epochs(0), two_epochs(1)
    for (images, targets, batches), (images_again, targets_again, batches_again) in zip(first, again):
        np.testing.assert_array_equal(images, images_again)
        np.testing.assert_array_equal(targets, targets_again)
        assert batches == batches_again
    assert not np.array_equal(first[0][0], first[1][0])  # a new permutation and augmentation each epoch
    assert not np.array_equal(first[0][0], other[0][0])


def served_over_epochs(loader, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    passes = [epoch(loader) for _ in range(epochs)]
    return np.concatenate([p[0] for p in passes]), np.concatenate([p[1] for p in passes])


def six_sd(p: float, draws: int) -> float:
    """Six standard deviations of a binomial frequency with probability p over ``draws`` draws."""
    return 6 * math.sqrt(p * (1 - p) / draws)


@pytest.mark.parametrize("path", ["device", "torch"])
def test_crop_offsets_and_flips_are_uniform_on_both_paths(path: str) -> None:
    """Offsets (dy, dx) uniform on the same 5 x 5 support, flips with p = 0.5, independently per image.

    6000 draws: per-offset frequency 1/25 has sd 0.0025, flip rate sd 0.0065; tolerances are 6 sd,
    so a false failure (any of 26 frequencies) has probability < 1e-7 for any seed."""
    arrays = coded_arrays(200)
    make = device_loader if path == "device" else torch_loader
    images, targets = served_over_epochs(make(arrays, 50, seed=11), 30)
    draws = len(images)
    assert draws == 6000
    _, dy, dx, flipped = decode(images)
    check_served(arrays, images, targets)
    cells = 2 * PAD + 1
    counts = np.bincount(dy * cells + dx, minlength=cells * cells)
    assert len(counts) == cells * cells and counts.min() > 0  # the same support, every offset seen
    p = 1 / cells ** 2
    np.testing.assert_array_less(np.abs(counts / draws - p), six_sd(p, draws))
    assert abs(flipped.mean() - 0.5) <= six_sd(0.5, draws)


@pytest.mark.parametrize("path", ["device", "torch"])
def test_inverse_count_weights_balance_the_classes_on_both_paths(path: str) -> None:
    """Per-image weight 1 / n_y makes every draw fall in each class with probability 1 / C, though the
    set holds 160 : 32 : 8 images. 4000 draws: share sd 0.0075; tolerance 6 sd (0.045)."""
    targets = np.repeat(np.arange(3), [160, 32, 8])
    arrays = coded_arrays(len(targets), targets)
    weights = 1 / np.bincount(targets)[targets]
    make = device_loader if path == "device" else torch_loader
    images, served_targets = served_over_epochs(make(arrays, 25, seed=4, sample_weights=weights), 20)
    draws = len(images)
    assert draws == 4000
    check_served(arrays, images, served_targets)
    share = np.bincount(served_targets, minlength=3) / draws
    np.testing.assert_array_less(np.abs(share - 1 / 3), six_sd(1 / 3, draws))


@pytest.mark.parametrize(("n", "batch", "world"), [(199, 64, 1), (129, 64, 1), (21, 3, 2), (50, 8, 3), (10, 4, 4)])
def test_every_index_once_per_epoch_and_ddp_pads_as_distributed_sampler(n: int, batch: int, world: int) -> None:
    """Over one epoch the ranks together serve every index; the ceil(n / world) * world - n extra
    draws repeat the permutation's first indices (DistributedSampler's padding), every rank runs
    len(loader) = ceil(share / batch) batches of near-equal size (129 at 64: 43, 43, 43; never 64, 64, 1)."""
    identity = np.arange(n)
    arrays = ImageArrays(np.zeros((n, 2, 2, 1), np.uint8), identity, ("a",) * n, Provenance.single("ids", identity))
    loaders = [DeviceLoader(arrays, batch, lambda x, g: x, shuffle=True, seed=1, rank=r, world_size=world)
               for r in range(world)]
    epochs = [[y for _, y in loader] for loader in loaders]
    assert all(len(batches) == len(loader) for batches, loader in zip(epochs, loaders))
    assert len({len(loader) for loader in loaders}) == 1 and all(len(b) >= 2 for e in epochs for b in e)
    served = np.concatenate([torch.cat(batches).numpy() for batches in epochs])
    counts = np.bincount(served, minlength=n)
    extra = -(-n // world) * world - n
    assert (counts >= 1).all() and counts.sum() == n + extra and (counts == 2).sum() == extra
    sizes = [len(b) for b in epochs[0]]
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= batch
    if n == 129:
        assert sizes == [43, 43, 43]


def test_drop_last_serves_full_batches_of_an_equal_share_per_rank() -> None:
    arrays = ImageArrays(np.zeros((21, 2, 2, 1), np.uint8), np.arange(21), ("a",) * 21,
                         Provenance.single("ids", np.arange(21)))
    loaders = [DeviceLoader(arrays, 4, lambda x, g: x, shuffle=True, seed=1, rank=r, world_size=2, drop_last=True)
               for r in range(2)]
    served = [torch.cat([y for _, y in loader]) for loader in loaders]
    assert [len(loader) for loader in loaders] == [2, 2] and [len(s) for s in served] == [8, 8]
    assert not set(served[0].tolist()) & set(served[1].tolist())


def test_classic_epochs_are_a_function_of_seed_and_epoch_whatever_the_workers() -> None:
    """What a resume needs: a fresh loader set to epoch 2 (here with 2 workers) serves the same batches
    as the third pass of an uninterrupted one (no workers), which leaves torch's global stream alone."""
    arrays = coded_arrays(40)
    global_state = torch.get_rng_state()
    uninterrupted = torch_loader(arrays, 8, 5)
    passes = [epoch(uninterrupted) for _ in range(3)]
    assert torch.equal(torch.get_rng_state(), global_state)
    resumed = classic_loader(arrays, 8, MEAN, STD, padding=PAD, flip=True, workers=2, seed=5)
    resumed.sampler.set_epoch(2)
    images, targets, batches = epoch(resumed)
    np.testing.assert_array_equal(images, passes[2][0])
    np.testing.assert_array_equal(targets, passes[2][1])
    assert batches == passes[2][2] and not np.array_equal(passes[1][0], passes[2][0])


@pytest.mark.parametrize("size, world_size, drop_last, shard", [(38, 2, False, 19), (37, 2, False, 19),
                                                                  (37, 2, True, 18), (10, 3, False, 4)])
def test_ranks_take_disjoint_shards_of_the_same_epoch_order(size: int, world_size: int, drop_last: bool,
                                                            shard: int) -> None:
    """As torch's DistributedSampler: one order per (seed, epoch), rank r takes every world_size-th key;
    padding repeats the order's first keys, drop_last cuts the order to a multiple of world_size."""
    from imbsemi.data.epoch_sampler import EpochSampler

    whole = [index for _, index in EpochSampler(size, seed=4, epoch=2)]
    shards = [list(EpochSampler(size, seed=4, epoch=2, rank=r, world_size=world_size, drop_last=drop_last))
              for r in range(world_size)]
    assert all(len(keys) == shard for keys in shards) and {key[0] for keys in shards for key in keys} == {2}
    padded = (whole * 2)[:shard * world_size]
    for rank, keys in enumerate(shards):
        assert [index for _, index in keys] == padded[rank::world_size]
    if shard * world_size <= size:  # no padding: the shards are disjoint
        assert not set(shards[0]) & set(shards[1])


def test_evaluation_shares_cover_the_split_once_with_the_padding_unlabeled() -> None:
    from imbsemi.data.arrays import NO_LABEL
    from imbsemi.data.datamodule import rank_share

    split = coded_arrays(7)
    shares = [rank_share(split, rank, 3) for rank in range(3)]
    assert [len(share) for share in shares] == [3, 3, 3] and rank_share(split, 0, 1) is split
    counted = sorted(int(i) for share in shares for i, t in zip(share.provenance.index, share.targets) if t != NO_LABEL)
    assert counted == list(range(7)) and sum(int((share.targets == NO_LABEL).sum()) for share in shares) == 2
