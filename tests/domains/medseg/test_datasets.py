"""Slice and patch datasets read the right voxels, stay inside their split and are seeded."""

import numpy as np
import pytest
import torch

from domains.medseg.data import MedSegDataModule, foreground_slab_split
from domains.medseg.datasets import PatchDataset, SliceDataset, fit_to_size
from domains.medseg.transforms import decode_mask
from sciddm.errors import ConfigError


def coordinate_volume(shape=(10, 12, 30)):
    """Image channels hold the voxel coordinates, so every item tells where it was cut from."""
    image = np.indices(shape).astype(np.float32)
    labels = np.zeros(shape, np.int64)
    labels[3:6, 4:8, 10:14] = 1
    return image, labels


def test_slices_are_the_requested_ones_and_filtered_by_foreground():
    volumes = [coordinate_volume()]
    dataset = SliceDataset(volumes, np.array([2, 11, 20]), axis=2)
    assert len(dataset) == 3
    item = dataset[1]
    assert item["image"].shape == (3, 10, 12) and torch.all(item["image"][2] == 11)
    assert torch.equal(item["labels"], torch.from_numpy(volumes[0][1][:, :, 11]))
    assert len(SliceDataset(volumes, np.arange(30), axis=2, min_foreground=0.01)) == 4


def test_fit_to_size_crops_and_pads_centrally():
    array = np.arange(12).reshape(3, 4)
    assert fit_to_size(array, (3, 2)).tolist() == [[1, 2], [5, 6], [9, 10]]
    assert fit_to_size(array, (5, 4))[0].tolist() == [0, 0, 0, 0] and fit_to_size(array, (5, 4))[1, 0] == 0


def test_patches_stay_inside_their_slab_and_are_seeded():
    volumes = [coordinate_volume()]
    allowed = np.concatenate([np.arange(0, 8), np.arange(16, 26)])  # two slabs along axis 2
    dataset = PatchDataset(volumes, allowed, (4, 4, 6), length=40, axis=2, foreground_probability=0.5, seed=3)
    for index in range(len(dataset)):
        z = dataset[index]["image"][2].unique().numpy().astype(int)
        assert np.all(np.isin(z, allowed)) and len(z) == 6 and np.all(np.diff(z) == 1)
    assert torch.equal(dataset[5]["image"], dataset[5]["image"])
    dataset.set_epoch(1)
    moved = [dataset[i]["image"][:, 0, 0, 0] for i in range(10)]
    dataset.set_epoch(0)
    assert any(not torch.equal(m, dataset[i]["image"][:, 0, 0, 0]) for i, m in enumerate(moved))


def test_foreground_oversampling_centres_patches_on_foreground():
    always = PatchDataset([coordinate_volume()], np.arange(30), (4, 4, 4), length=20, foreground_probability=1.0)
    assert all(always[i]["labels"].any() for i in range(20))


def test_patch_configuration_errors():
    with pytest.raises(ConfigError, match="no run of allowed slices along axis 2 is as long as the patch"):
        PatchDataset([coordinate_volume()], np.arange(0, 3), (4, 4, 4), length=2)
    with pytest.raises(ConfigError, match="larger than volume"):
        PatchDataset([coordinate_volume()], np.arange(30), (16, 4, 4), length=2)


def test_synthetic_module_batches_fields_and_context():
    module = MedSegDataModule(synthetic_samples=40, synthetic_shape=(32, 32), mask_variant="continuous",
                              batch_size=4)
    module.setup()
    batch = next(iter(module.train_dataloader()))
    assert batch["mask"].shape == (4, 1, 32, 32) and batch["context"]["image"].shape == (4, 1, 32, 32)
    labels = decode_mask(batch["mask"], "continuous")
    image = batch["context"]["image"][:, 0]
    assert image[labels == 1].mean() > image[labels == 0].mean() + 1.0  # foreground is brighter
    sizes = {name: len(d) for name, d in module.datasets.items()}
    assert sizes == {"train": 28, "val": 6, "test": 6}
    again = MedSegDataModule(synthetic_samples=40, synthetic_shape=(32, 32), mask_variant="continuous",
                             batch_size=4)
    again.setup()
    assert torch.equal(next(iter(again.train_dataloader()))["mask"], batch["mask"])


def test_synthetic_3d_module_gives_categorical_patches():
    module = MedSegDataModule(spatial_dims=3, synthetic_samples=6, synthetic_shape=(16, 16, 16),
                              synthetic_classes=3, patch_size=(8, 8, 8), patches_per_epoch=4, batch_size=2)
    module.setup()
    batch = next(iter(module.val_dataloader()))
    assert batch["mask"].shape == (2, 1, 8, 8, 8) and batch["mask"].dtype == torch.int64
    assert module.num_classes == 3


def test_mni152_module_splits_by_slab():
    module = MedSegDataModule(source="mni152", downsample=4, gap=1, batch_size=2)
    module.setup()
    slices = {name: {i for _, i in d.items} for name, d in module.datasets.items()}
    assert max(slices["train"]) + 3 <= min(slices["val"]) and max(slices["val"]) + 3 <= min(slices["test"])
    test_slab = module.split_volumes["test"][0]
    assert test_slab[1].shape[2] == len(slices["test"])
    assert all(np.any(test_slab[1][:, :, k]) for k in range(test_slab[1].shape[2]))  # no empty held-out slice
    batch = next(iter(module.test_dataloader()))
    assert batch["mask"].shape == (2, 1, 49, 58)


def test_foreground_slab_split_ignores_empty_end_slices():
    labels = np.zeros((2, 2, 30), int)
    labels[:, :, 10:20] = 1
    split = foreground_slab_split(labels, 2, {"train": 0.8, "val": 0.0, "test": 0.2}, 1, 0)
    assert split["train"].tolist() == list(range(10, 18)) and split["test"].tolist() == [18, 19]
    with pytest.raises(ConfigError, match="label map is empty"):
        foreground_slab_split(np.zeros((2, 2, 3), int), 2, {"train": 1.0}, 1, 0)


def test_module_configuration_errors():
    with pytest.raises(ConfigError, match="unknown medseg source 'dicom'"):
        MedSegDataModule(source="dicom")
    with pytest.raises(ConfigError, match="needs root="):
        MedSegDataModule(source="decathlon")
    with pytest.raises(ConfigError, match="must have the keys"):
        MedSegDataModule(split_fractions={"train": 1.0})
