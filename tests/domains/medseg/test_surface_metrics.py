"""Overlap and surface-distance metrics against hand counts, closed forms and brute force."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from domains.medseg.metrics import dice, iou, pair_metrics, segmentation_metrics, slice_level
from domains.medseg.surface import average_surface_distance, hausdorff_distance, surface

from .helpers import ball, box


def test_dice_and_iou_of_identical_disjoint_and_half_shifted_masks():
    square = box((8, 8), (2, 2), (4, 4))
    assert dice(square, square) == 1.0 and iou(square, square) == 1.0
    assert dice(square, box((8, 8), (5, 5), (7, 7))) == 0.0
    shifted = box((8, 8), (3, 2), (5, 4))  # shares 2 of 4 pixels: Dice 2*2/8, IoU 2/6
    assert dice(square, shifted) == pytest.approx(0.5)
    assert iou(square, shifted) == pytest.approx(1 / 3)


def test_empty_mask_conventions():
    empty, full = np.zeros((6, 6, 6), bool), box((6, 6, 6), (1, 1, 1), (3, 3, 3))
    assert pair_metrics(empty, empty, (1, 1, 1)) == {"dice": 1.0, "iou": 1.0, "hd95_mm": 0.0, "asd_mm": 0.0}
    one_empty = pair_metrics(full, empty, (1, 1, 1))
    assert one_empty["dice"] == 0.0 and one_empty["iou"] == 0.0
    assert one_empty["hd95_mm"] == np.inf and one_empty["asd_mm"] == np.inf


def test_surface_of_a_cube_is_its_outer_shell():
    cube = box((9, 9, 9), (2, 2, 2), (7, 7, 7))
    assert surface(cube).sum() == 5**3 - 3**3
    assert not surface(cube)[4, 4, 4]
    whole = np.ones((3, 3, 3), bool)  # the image border counts as outside: only the centre is interior
    assert surface(whole).sum() == 26


@pytest.mark.parametrize("shift", [2, 4, 6])
def test_shifted_sphere_hausdorff_equals_the_shift(shift):
    radius = 12
    a = ball((48, 48, 48), (18, 24, 24), radius)
    b = ball((48, 48, 48), (18 + shift, 24, 24), radius)
    assert hausdorff_distance(a, b, (1, 1, 1), percentile=100) == pytest.approx(shift)
    # Continuous sphere: a point at polar angle theta lies |sqrt(r^2 - 2 r d cos + d^2) - r| from the shifted
    # sphere, with cos(theta) uniform on [-1, 1] for uniform surface points (Archimedes).
    cosines = np.linspace(-1, 1, 200001)
    exact = np.abs(np.sqrt(radius**2 - 2 * radius * shift * cosines + shift**2) - radius)
    assert hausdorff_distance(a, b, (1, 1, 1)) == pytest.approx(np.percentile(exact, 95), abs=0.3)
    assert average_surface_distance(a, b, (1, 1, 1)) == pytest.approx(exact.mean(), abs=0.15)


def test_anisotropic_spacing_scales_distances_along_each_axis():
    plane = np.zeros((10, 10, 12), bool)
    plane[:, :, 3] = True
    moved = np.roll(plane, 4, axis=2)  # every voxel of either plane is exactly 4 voxels from the other
    for spacing, expected in [((1, 1, 1), 4.0), ((0.7, 0.9, 2.5), 10.0), ((3.0, 3.0, 0.5), 2.0)]:
        assert hausdorff_distance(plane, moved, spacing) == pytest.approx(expected)
        assert average_surface_distance(plane, moved, spacing) == pytest.approx(expected)
    crossing = np.zeros_like(plane)
    crossing[2, :, :] = True  # the plane x = 2 meets z = 3: farthest points are 7 voxels along x (2 mm each)
    assert hausdorff_distance(plane, crossing, (2.0, 1.0, 1.0), percentile=100) == pytest.approx(7 * 2.0)
    assert hausdorff_distance(plane, crossing, (1.0, 1.0, 2.0), percentile=100) == pytest.approx(8 * 2.0)


def test_distances_match_brute_force_on_random_masks():
    rng = np.random.default_rng(3)
    spacing = (0.8, 1.3, 2.1)
    for _ in range(5):
        a = rng.random((9, 8, 7)) < 0.3
        b = rng.random((9, 8, 7)) < 0.3
        pa, pb = np.argwhere(surface(a)) * spacing, np.argwhere(surface(b)) * spacing
        pairwise = cdist(pa, pb)
        d_ab, d_ba = pairwise.min(axis=1), pairwise.min(axis=0)
        hd95 = max(np.percentile(d_ab, 95), np.percentile(d_ba, 95))
        asd = (d_ab.sum() + d_ba.sum()) / (len(d_ab) + len(d_ba))
        assert hausdorff_distance(a, b, spacing) == pytest.approx(hd95)
        assert average_surface_distance(a, b, spacing) == pytest.approx(asd)


def test_slice_level_and_volume_level_differ_as_hand_counted():
    ref = np.zeros((4, 4, 4), bool)
    pred = np.zeros((4, 4, 4), bool)
    ref[0:2, 0:2, 0] = True  # slice 0: 4 reference voxels, predicted exactly
    pred[0:2, 0:2, 0] = True
    ref[0, 0, 1] = True  # slice 1: 1 reference voxel, missed
    pred[3, 3, 2] = True  # slice 2: 1 spurious voxel; slice 3: both empty
    levels = slice_level(pred, ref, (1, 1, 1), axis=2)
    assert levels["dice"] == pytest.approx((1 + 0 + 0) / 3)
    assert (levels["n_both_empty"], levels["n_missed"], levels["n_spurious"], levels["n_scored"]) == (1, 1, 1, 3)
    assert levels["hd95_mm"] == 0.0  # only slice 0 has both masks, and there they agree
    volume = segmentation_metrics(pred.astype(int), ref.astype(int), (1, 1, 1))
    assert volume["volume_dice_c1"] == pytest.approx(2 * 4 / (5 + 5))
    assert volume["slice_dice_c1"] == pytest.approx(levels["dice"])


def test_per_class_metrics_of_a_label_map():
    ref = np.zeros((6, 6), int)
    ref[0:2, 0:2], ref[4:6, 4:6] = 1, 2
    pred = ref.copy()
    pred[4:6, 4:6] = 1  # class 2 predicted as class 1
    out = segmentation_metrics(pred, ref, (1.0, 1.0))
    assert out["volume_dice_c1"] == pytest.approx(2 * 4 / (8 + 4))
    assert out["volume_dice_c2"] == 0.0 and out["volume_hd95_mm_c2"] == np.inf
    assert out["volume_dice_mean"] == pytest.approx(out["volume_dice_c1"] / 2)
    assert not any(k.startswith("slice_") for k in out)  # 2D images have no slice level
