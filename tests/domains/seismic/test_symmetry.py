import numpy as np
import pytest

from domains.seismic.symmetry import GridSymmetry, grid_symmetries, symmetry_average, symmetry_maps
from sciddm.errors import ConfigError


def grid_volume(shape: tuple[int, int, int]) -> np.ndarray:
    """A volume whose every sample is distinct, so any two different maps give different arrays."""
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def test_dihedral_group_has_eight_distinct_maps_and_the_flips_four():
    volume = grid_volume((5, 5, 3))
    images = {g.apply(volume).tobytes() for g in grid_symmetries(transpose=True)}
    assert len(images) == 8
    assert len(grid_symmetries(transpose=False)) == 4


@pytest.mark.parametrize("g", grid_symmetries(transpose=True))
def test_invert_undoes_apply_on_volumes_and_masks_of_any_grid(g):
    volume = grid_volume((4, 6, 3))
    mask = volume[..., 0] % 3 == 0
    assert np.array_equal(g.invert(g.apply(volume)), volume)
    assert np.array_equal(g.invert(g.apply(mask)), mask)


def test_maps_by_hand():
    plane = np.array([[1, 2], [3, 4]])[..., None]
    assert GridSymmetry(True, False, False).apply(plane)[..., 0].tolist() == [[3, 4], [1, 2]]
    assert GridSymmetry(False, True, False).apply(plane)[..., 0].tolist() == [[2, 1], [4, 3]]
    assert GridSymmetry(False, False, True).apply(plane)[..., 0].tolist() == [[1, 3], [2, 4]]
    # flip inlines, then transpose: a rotation by 90 degrees
    assert GridSymmetry(True, False, True).apply(plane)[..., 0].tolist() == [[3, 1], [4, 2]]


def test_equivariant_reconstruction_is_unchanged():
    volume = np.random.default_rng(0).normal(size=(6, 6, 4)).astype(np.float32)
    mask = np.random.default_rng(1).random((6, 6)) < 0.5

    def zero_fill(v: np.ndarray, m: np.ndarray) -> np.ndarray:
        return v * m[..., None]

    np.testing.assert_allclose(symmetry_average(zero_fill, volume, mask), zero_fill(volume, mask), atol=1e-6)


@pytest.mark.parametrize("transpose", [True, False])
def test_inline_ramp_averages_to_its_mean(transpose):
    """R(v, m) = v + i (the inline index) is not equivariant: a flip of the inlines maps the ramp back to
    n - 1 - i and a transpose turns it into the crossline index j, so each pair averages to (n - 1) / 2."""
    n = 7
    volume = np.random.default_rng(2).normal(size=(n, n, 3))
    mask = np.ones((n, n), dtype=bool)

    def inline_ramp(v: np.ndarray, m: np.ndarray) -> np.ndarray:
        return v + np.arange(v.shape[0])[:, None, None]

    np.testing.assert_allclose(symmetry_average(inline_ramp, volume, mask, transpose), volume + (n - 1) / 2,
                               atol=1e-12)


def test_mask_of_another_grid_is_rejected():
    with pytest.raises(ValueError, match=r"mask grid \(4, 5\)"):
        symmetry_average(lambda v, m: v, np.zeros((5, 4, 3)), np.ones((4, 5), dtype=bool))


def test_symmetry_maps_by_count():
    assert symmetry_maps(1) == [GridSymmetry(False, False, False)]
    assert symmetry_maps(4) == grid_symmetries(transpose=False)
    assert symmetry_maps(8) == grid_symmetries(transpose=True)
    with pytest.raises(ConfigError, match="unknown number of grid symmetries 3; choose one of: 1, 4, 8"):
        symmetry_maps(3)
