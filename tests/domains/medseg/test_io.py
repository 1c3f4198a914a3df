"""NIfTI round trips keep data, affine and spacing; bad files raise errors that name them."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from domains.medseg.io import Volume, check_same_grid, read_nifti, write_nifti
from sciddm.errors import DataError

AFFINE = np.array([[0.8, 0, 0, -10.0], [0, 1.2, 0, 5.0], [0, 0, 3.0, 2.5], [0, 0, 0, 1]])


def test_round_trip_keeps_labels_affine_and_spacing(tmp_path):
    labels = np.random.default_rng(0).integers(0, 4, size=(5, 6, 7)).astype(np.int16)
    write_nifti(tmp_path / "a.nii.gz", labels, AFFINE)
    volume = read_nifti(tmp_path / "a.nii.gz")
    assert np.array_equal(volume.data, labels) and volume.data.dtype == np.int16
    assert np.allclose(volume.affine, AFFINE)
    assert volume.spacing == pytest.approx((0.8, 1.2, 3.0))


def test_explicit_spacing_and_trailing_singleton_axis(tmp_path):
    write_nifti(tmp_path / "b.nii", np.ones((4, 4, 4, 1), np.float32), np.eye(4), spacing=(2.0, 2.0, 5.0))
    volume = read_nifti(tmp_path / "b.nii")
    assert volume.data.shape == (4, 4, 4) and volume.spacing == (2.0, 2.0, 5.0)


def test_missing_unreadable_and_four_dimensional_files_are_named(tmp_path):
    with pytest.raises(DataError, match="nope.nii.gz: no such NIfTI file"):
        read_nifti(tmp_path / "nope.nii.gz")
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    with pytest.raises(DataError, match="garbage.nii.gz: cannot be read as NIfTI"):
        read_nifti(garbage)
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2), np.float32), np.eye(4)), str(tmp_path / "four.nii.gz"))
    with pytest.raises(DataError, match=r"four.nii.gz: expected a 3D image, found 4D with shape \(3, 3, 3, 2\)"):
        read_nifti(tmp_path / "four.nii.gz")
    assert read_nifti(tmp_path / "four.nii.gz", ndim=4).data.shape == (3, 3, 3, 2)


def test_grid_mismatches_name_both_files():
    image = Volume(np.zeros((4, 4, 4)), np.eye(4), (1.0, 1.0, 1.0))
    with pytest.raises(DataError, match=r"m.nii: mask shape \(4, 4, 5\) does not match image i.nii"):
        check_same_grid(image, Volume(np.zeros((4, 4, 5)), np.eye(4), (1, 1, 1)), "i.nii", "m.nii")
    moved = np.eye(4)
    moved[0, 3] = 2.0
    with pytest.raises(DataError, match="m.nii: mask affine differs from the affine of image i.nii"):
        check_same_grid(image, Volume(np.zeros((4, 4, 4)), moved, (1, 1, 1)), "i.nii", "m.nii")


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(Exception):  # noqa: B017 - nibabel rejects object arrays with its own error type
        write_nifti(tmp_path / "bad.nii.gz", np.array([[[object()]]]), np.eye(4))
    assert list(tmp_path.iterdir()) == []
