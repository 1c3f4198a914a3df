"""Normalisation, augmentation, block reduction, mask encodings and region splits."""

import numpy as np
import pytest
import torch

from domains.medseg.splits import contiguous_runs, slab_split
from domains.medseg.transforms import (
    Augmentation,
    block_mean,
    block_mode,
    decode_mask,
    encode_mask,
    normalize_intensity,
)
from sciddm.errors import ConfigError


def test_zscore_over_nonzero_voxels_and_percentile_range():
    rng = np.random.default_rng(0)
    image = np.zeros((1, 20, 20))
    image[0, 5:15, 5:15] = rng.normal(100, 15, (10, 10))
    z = normalize_intensity(image)
    inside = z[0, 5:15, 5:15]
    assert inside.mean() == pytest.approx(0.0, abs=1e-5) and inside.std() == pytest.approx(1.0, abs=1e-5)
    assert z[0, 0, 0] == pytest.approx(-image[0, 5:15, 5:15].mean() / image[0, 5:15, 5:15].std(), rel=1e-5)
    ramp = np.arange(101, dtype=float).reshape(1, 101)
    scaled = normalize_intensity(ramp, "percentile", "all", (10, 90))
    assert scaled.min() == -1.0 and scaled.max() == 1.0 and scaled[0, 50] == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="unknown normalisation 'max'"):
        normalize_intensity(image, "max")


def test_augmentation_moves_image_and_mask_together_and_is_seeded():
    labels = np.zeros((6, 7), int)
    labels[0:2, 0:3] = 1
    image = labels[None].astype(np.float32) * 5.0
    augment = Augmentation(flip_axes=(0, 1), intensity_scale=0.2, intensity_shift=0.5)
    seen = set()
    for seed in range(8):
        out_image, out_labels = augment(image, labels, np.random.default_rng(seed))
        foreground = out_image[0] > out_image[0].min() + 1.0
        assert np.array_equal(foreground, out_labels == 1)
        seen.add(tuple(np.argwhere(out_labels)[0]))
    assert len(seen) > 1  # flips happened
    first = augment(image, labels, np.random.default_rng(3))
    assert np.array_equal(first[0], augment(image, labels, np.random.default_rng(3))[0])


def test_block_mean_and_mode_by_hand():
    array = np.arange(16, dtype=float).reshape(4, 4)
    assert block_mean(array, 2).tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert block_mean(np.ones((1, 5, 5)), 2, first_axis=1).shape == (1, 2, 2)
    labels = np.array([[1, 1, 0, 2], [1, 0, 2, 2], [0, 0, 1, 0], [0, 2, 0, 1]])
    assert block_mode(labels, 2, 3).tolist() == [[1, 2], [0, 0]]


@pytest.mark.parametrize("classes", [2, 4])
def test_mask_encodings_round_trip(classes):
    labels = torch.randint(0, classes, (3, 5, 6))
    continuous = encode_mask(labels, classes, "continuous")
    assert continuous.shape == (3, 1 if classes == 2 else classes, 5, 6)
    assert set(continuous.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(decode_mask(continuous, "continuous"), labels)
    categorical = encode_mask(labels, classes, "categorical")
    assert torch.equal(decode_mask(categorical, "categorical"), labels)
    logits = torch.nn.functional.one_hot(categorical, classes).float()
    assert torch.equal(decode_mask(logits, "categorical"), labels)
    with pytest.raises(ConfigError, match="unknown mask variant 'soft'"):
        encode_mask(labels, classes, "soft")


def test_slab_split_is_disjoint_proportional_and_contiguous():
    split = slab_split(100, {"train": 0.7, "val": 0.1, "test": 0.2})
    assert [len(v) for v in split.values()] == [70, 10, 20]
    assert np.array_equal(np.sort(np.concatenate(list(split.values()))), np.arange(100))
    assert [contiguous_runs(v) for v in split.values()] == [[(0, 70)], [(70, 80)], [(80, 100)]]


def test_slab_split_gap_keeps_splits_apart():
    split = slab_split(90, {"train": 0.6, "val": 0.2, "test": 0.2}, n_cycles=3, gap=2)
    owners = {int(i): name for name, idx in split.items() for i in idx}
    closest = min(abs(i - j) for i in owners for j in owners if owners[i] != owners[j])
    assert closest == 2 * 2 + 1
    assert len(contiguous_runs(split["test"])) == 3
    assert len(owners) == 90 - 2 * 2 * 8  # 8 boundaries between different splits, 2 slices lost on each side


def test_contiguous_runs_and_bad_split_arguments():
    assert contiguous_runs(np.array([1, 2, 3, 7, 9, 10])) == [(1, 4), (7, 8), (9, 11)]
    assert contiguous_runs(np.array([], int)) == []
    with pytest.raises(ConfigError, match="non-negative with a positive sum"):
        slab_split(10, {"train": -1.0, "test": 0.5})
