"""The data module's DiffusionDataModule side: templates of held-out items, NIfTI writing, scoring, pictures."""

import numpy as np
import pytest
import torch

from domains.medseg.data import MedSegDataModule
from domains.medseg.io import read_nifti
from domains.medseg.templates import mni152_paths
from domains.medseg.transforms import block_affine, encode_mask
from sciddm.errors import ConfigError


def synthetic_module(**overrides) -> MedSegDataModule:
    args = {"synthetic_samples": 30, "synthetic_shape": (24, 24), "mask_variant": "continuous", "batch_size": 4,
            "sample_split": "test"}
    module = MedSegDataModule(**{**args, **overrides})
    module.setup()
    return module


def test_template_holds_the_held_out_slices_in_order():
    module = synthetic_module()
    dataset = module.datasets["test"]
    template, context = module.sample_template(3)
    assert template["mask"].shape == (3, 1, 24, 24) and torch.all(template["mask"] == 0)
    for k in range(3):
        item = dataset[k]
        assert torch.equal(context["image"][k], item["image"]) and torch.equal(context["reference"][k], item["labels"])
        assert context["position"][k].tolist() == [dataset.items[k][1]]
    with pytest.raises(ConfigError, match=r"num_samples must be in 1\.\.5 .*test split"):
        module.sample_template(6)


def test_reference_drawn_back_scores_perfectly_and_is_written_in_place(tmp_path):
    module = synthetic_module()
    _, context = module.sample_template(5)
    perfect = {"mask": encode_mask(context["reference"], 2, "continuous")}
    metrics = module.evaluate_samples(perfect, context)
    assert metrics["pooled_dice_c1"] == 1.0 and metrics["slice_dice_c1"] == 1.0 and metrics["slice_hd95_mm_c1"] == 0
    empty = module.evaluate_samples({"mask": -torch.ones_like(perfect["mask"])}, context)
    has_foreground = int((context["reference"].flatten(1).amax(1) > 0).sum())
    assert empty["pooled_dice_c1"] == 0.0 and empty["slice_n_missed_c1"] == has_foreground
    path = module.write_samples(perfect, context, tmp_path / "drawn.nii.gz")
    written = read_nifti(path)
    stack = module.datasets["test"].volumes[0][1]
    drawn = context["position"][:, 0].numpy()
    assert np.array_equal(written.data[:, :, drawn], stack[:, :, drawn])
    assert not written.data[:, :, np.setdiff1d(np.arange(stack.shape[2]), drawn)].any()  # nothing else drawn
    assert np.array_equal(written.affine, np.eye(4))
    picture = module.render_samples(perfect, context, tmp_path / "drawn.png")
    assert picture.stat().st_size > 1000


def test_3d_tiles_cover_the_held_out_volume_and_place_back_exactly(tmp_path):
    module = synthetic_module(spatial_dims=3, synthetic_samples=8, synthetic_shape=(12, 10, 9),
                              patch_size=(8, 8, 4), patches_per_epoch=2)
    windows = module.held_out_windows()
    assert len(windows) == 2 * 2 * 3  # per axis: starts (0, 4), (0, 2), (0, 4, 5)
    template, context = module.sample_template(len(windows))
    drawn = {"mask": encode_mask(context["reference"], 2, "continuous")}
    labels = module.datasets["test"].volumes[0][1]
    assert np.array_equal(module.placed_labels(drawn, context), labels)
    assert module.evaluate_samples(drawn, context)["tile_dice_c1"] == 1.0


def test_mni152_samples_are_written_with_the_reduced_source_affine(tmp_path):
    module = MedSegDataModule(source="mni152", downsample=4, gap=1, mask_variant="continuous",
                              sample_split="test")
    module.setup()
    _, context = module.sample_template(2)
    drawn = {"mask": encode_mask(context["reference"], 2, "continuous")}
    written = read_nifti(module.write_samples(drawn, context, tmp_path / "wm.nii.gz"))
    source = read_nifti(mni152_paths()["t1"])
    assert np.allclose(written.affine, block_affine(source.affine, 4)) and written.spacing == (4.0, 4.0, 4.0)
    slices = context["position"][:, 0].numpy()
    assert np.array_equal(written.data[:, :, slices], module.datasets["test"].volumes[0][1][:, :, slices])


def test_sample_choice_errors():
    with pytest.raises(ConfigError, match="sample_split must be one of"):
        MedSegDataModule(sample_split="holdout")
    module = synthetic_module(sample_volume=3)
    with pytest.raises(ConfigError, match="sample_volume 3 out of range: the test split has 1 volume"):
        module.sample_template(1)
