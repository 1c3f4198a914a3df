from pathlib import Path

import numpy as np
import pytest

from domains.seismic.masks import (
    contiguous_gap,
    load_mask,
    make_mask,
    missing_inlines,
    random_pattern,
    random_traces,
    regular_decimation,
    save_mask,
    volume_mask,
)
from sciddm.errors import ConfigError, DataError


def test_random_traces_drop_exactly_the_requested_number_deterministically():
    mask = random_traces((10, 7), 0.5, seed=3)
    assert (~mask).sum() == 35
    np.testing.assert_array_equal(mask, random_traces((10, 7), 0.5, seed=3))
    assert not np.array_equal(mask, random_traces((10, 7), 0.5, seed=4))
    assert (~random_traces((10, 7), 0.3, seed=0)).sum() == 21


def test_regular_decimation_keeps_every_factor_th_line():
    expected = np.array([[False, True, False, True, False]] * 3)
    np.testing.assert_array_equal(regular_decimation((3, 5), factor=2, axis=1, offset=1), expected)
    np.testing.assert_array_equal(regular_decimation((5, 3), factor=2, axis=0, offset=1), expected.T)


def test_contiguous_gap_is_centred_by_default():
    expected = np.array([[True, True, False, False, True, True]] * 4)
    np.testing.assert_array_equal(contiguous_gap((4, 6), width=2), expected)
    np.testing.assert_array_equal(contiguous_gap((6, 4), width=2, axis=0, start=2), expected.T)


def test_missing_inlines_drop_whole_inlines():
    mask = missing_inlines((10, 4), 0.3, seed=1)
    rows = mask.all(axis=1)
    assert (mask.any(axis=1) == rows).all() and (~rows).sum() == 3


def test_make_mask_by_name_and_its_errors():
    np.testing.assert_array_equal(make_mask("gap", (4, 6), width=2), contiguous_gap((4, 6), 2))
    with pytest.raises(ConfigError, match="unknown mask pattern 'holes'; choose one of: decimation, gap, inlines"):
        make_mask("holes", (4, 4))
    with pytest.raises(ConfigError, match="mask pattern 'gap'"):
        make_mask("gap", (4, 4), size=2)
    with pytest.raises(ConfigError, match="does not fit"):
        contiguous_gap((4, 6), width=3, start=5)
    with pytest.raises(ConfigError, match=r"missing_fraction must lie in \[0, 1\]"):
        random_traces((4, 4), 1.5, seed=0)


def test_random_pattern_is_deterministic_for_a_generator_seed():
    masks = [random_pattern((8, 9), np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(*masks)
    patterns = {random_pattern((8, 9), np.random.default_rng(seed)).tobytes() for seed in range(20)}
    assert len(patterns) > 10


def test_save_and_load_round_trip_and_shape_checks(tmp_path: Path):
    mask = random_traces((5, 6), 0.4, seed=2)
    save_mask(tmp_path / "mask.npy", mask)
    np.testing.assert_array_equal(load_mask(tmp_path / "mask.npy", (5, 6, 30)), mask)
    np.save(tmp_path / "ints.npy", mask.astype(np.int8))
    np.testing.assert_array_equal(load_mask(tmp_path / "ints.npy"), mask)
    with pytest.raises(DataError, match=r"mask.npy: mask shape \(5, 6\) fits neither the volume \(6, 5, 30\)"):
        load_mask(tmp_path / "mask.npy", (6, 5, 30))


def test_bad_mask_files_are_named(tmp_path: Path):
    np.save(tmp_path / "soft.npy", np.full((3, 3), 0.5))
    with pytest.raises(DataError, match="soft.npy: mask must be boolean or contain only 0 and 1"):
        load_mask(tmp_path / "soft.npy")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(DataError, match="text.npy: not a readable .npy mask"):
        load_mask(tmp_path / "text.npy")


def test_volume_mask_broadcasts_trace_masks_along_time():
    mask = np.array([[True, False]])
    full = volume_mask(mask, (1, 2, 3))
    assert full.tolist() == [[[True] * 3, [False] * 3]]
