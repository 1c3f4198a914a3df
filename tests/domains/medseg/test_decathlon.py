"""The Decathlon-layout loader on small generated datasets, and every inconsistency it must name."""

import json

import numpy as np
import pytest

from domains.medseg.decathlon import load_decathlon
from domains.medseg.io import write_nifti
from sciddm.errors import DataError

SHAPE = (6, 5, 4)


def make_dataset(root, modalities=2, cases=("a", "b"), manifest=True):
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for k, name in enumerate(cases):
        image = np.full(SHAPE + ((modalities,) if modalities > 1 else ()), k, np.float32)
        if modalities > 1:
            image[..., 1] += 10
        labels = np.zeros(SHAPE, np.uint8)
        labels[1:3, 1:3, 1:3] = k + 1
        write_nifti(root / "imagesTr" / f"{name}.nii.gz", image, np.eye(4))
        write_nifti(root / "labelsTr" / f"{name}.nii.gz", labels, np.eye(4))
    if manifest:
        spec = {"modality": {str(m): f"m{m}" for m in range(modalities)},
                "labels": {"0": "background", "1": "one", "2": "two"},
                "training": [{"image": f"./imagesTr/{n}.nii.gz", "label": f"./labelsTr/{n}.nii.gz"} for n in cases]}
        (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_loads_multimodal_cases_channel_first(tmp_path):
    cases, labels = load_decathlon(make_dataset(tmp_path / "ds"))
    assert [c.name for c in cases] == ["a", "b"]
    assert cases[1].image.shape == (2,) + SHAPE
    assert cases[1].image[0].max() == 1 and cases[1].image[1].min() == 11  # modality order kept
    assert np.count_nonzero(cases[1].labels == 2) == 8
    assert labels == {0: "background", 1: "one", 2: "two"}


def test_without_manifest_pairs_by_file_name(tmp_path):
    cases, labels = load_decathlon(make_dataset(tmp_path / "ds", modalities=1, manifest=False))
    assert [c.image.shape for c in cases] == [(1,) + SHAPE] * 2
    assert labels == {0: "background", 1: "label 1", 2: "label 2"}


def test_four_dimensional_image_where_3d_expected(tmp_path):
    root = make_dataset(tmp_path / "ds", modalities=2)
    spec = json.loads((root / "dataset.json").read_text())
    spec["modality"] = {"0": "T1"}
    (root / "dataset.json").write_text(json.dumps(spec))
    with pytest.raises(DataError, match=r"imagesTr/a.nii.gz: expected a 3D image, found 4D"):
        load_decathlon(root)


def test_modality_count_mismatch(tmp_path):
    root = make_dataset(tmp_path / "ds", modalities=2)
    spec = json.loads((root / "dataset.json").read_text())
    spec["modality"] = {"0": "a", "1": "b", "2": "c"}
    (root / "dataset.json").write_text(json.dumps(spec))
    with pytest.raises(DataError, match=r"a.nii.gz: 2 modalities along axis 4, dataset.json declares 3"):
        load_decathlon(root)


def test_label_grid_and_value_problems(tmp_path):
    root = make_dataset(tmp_path / "ds", modalities=1)
    write_nifti(root / "labelsTr" / "b.nii.gz", np.zeros((6, 5, 3), np.uint8), np.eye(4))
    with pytest.raises(DataError, match=r"labelsTr/b.nii.gz: mask shape \(6, 5, 3\) does not match image"):
        load_decathlon(root)
    write_nifti(root / "labelsTr" / "b.nii.gz", np.zeros(SHAPE, np.uint8), np.diag([2.0, 1, 1, 1]))
    with pytest.raises(DataError, match="labelsTr/b.nii.gz: mask affine differs"):
        load_decathlon(root)
    write_nifti(root / "labelsTr" / "b.nii.gz", np.full(SHAPE, 5, np.uint8), np.eye(4))
    with pytest.raises(DataError, match=r"labelsTr/b.nii.gz: labels \[5\] not declared in dataset.json"):
        load_decathlon(root)
    write_nifti(root / "labelsTr" / "b.nii.gz", np.full(SHAPE, 0.5, np.float32), np.eye(4))
    with pytest.raises(DataError, match="labelsTr/b.nii.gz: label map contains non-integer values"):
        load_decathlon(root)


def test_unreadable_files_and_manifests(tmp_path):
    root = make_dataset(tmp_path / "ds", modalities=1)
    (root / "imagesTr" / "a.nii.gz").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"imagesTr/a.nii.gz: cannot be read as NIfTI"):
        load_decathlon(root)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(DataError, match="dataset.json: not a Decathlon manifest"):
        load_decathlon(root)
    with pytest.raises(DataError, match="missing: Decathlon root folder does not exist"):
        load_decathlon(tmp_path / "missing")
