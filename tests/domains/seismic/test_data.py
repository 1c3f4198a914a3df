from pathlib import Path

import numpy as np
import pytest
import torch

from domains.seismic.data import (
    MaskSampler,
    SeismicDataModule,
    SyntheticPatchDataset,
    VolumePatchDataset,
    fit_normalization,
    make_example,
)
from domains.seismic.masks import random_traces
from sciddm.errors import ConfigError, DataError


@pytest.fixture
def volume() -> np.ndarray:
    return np.random.default_rng(0).normal(loc=0.3, scale=2.0, size=(6, 7, 12))


@pytest.mark.parametrize("method", ["rms", "std", "maxabs"])
def test_normalization_uses_observed_traces_only_and_inverts(volume, method):
    mask = random_traces((6, 7), 0.5, seed=0)
    normalization = fit_normalization(volume, mask, method)
    observed = normalization.normalise(volume)[mask]
    statistic = {"rms": np.sqrt(np.mean(observed**2)), "std": observed.std(), "maxabs": np.abs(observed).max()}
    assert statistic[method] == pytest.approx(1.0)
    if method == "std":
        assert observed.mean() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(normalization.denormalise(normalization.normalise(volume)), volume, rtol=1e-12)
    changed = volume.copy()
    changed[~mask] = 100.0
    assert fit_normalization(changed, mask, method) == normalization


def test_normalization_errors():
    with pytest.raises(ConfigError, match="unknown normalization 'zscore'"):
        fit_normalization(np.ones((2, 2, 2)), np.ones((2, 2), bool), "zscore")
    with pytest.raises(ConfigError, match="scale 0.0"):
        fit_normalization(np.zeros((2, 2, 2)), np.ones((2, 2), bool))


def test_example_fields_and_context(volume):
    mask = random_traces((6, 7), 0.4, seed=1)
    normalization = fit_normalization(volume, mask)
    fields, context = make_example(volume, mask, normalization)
    expected = torch.from_numpy((volume / normalization.scale).astype(np.float32))[None]
    torch.testing.assert_close(fields["volume"], expected)
    torch.testing.assert_close(context["mask"][0, :, :, 5], torch.from_numpy(mask).float())
    assert torch.equal(context["observed"], fields["volume"] * context["mask"])


def test_synthetic_examples_depend_only_on_seed_and_index():
    dataset = SyntheticPatchDataset(4, (8, 8, 16), seed=3, masks=MaskSampler("random", {"missing_fraction": 0.5}))
    first, again, other = dataset[1], dataset[1], dataset[2]
    assert torch.equal(first[0]["volume"], again[0]["volume"]) and torch.equal(first[1]["mask"], again[1]["mask"])
    assert not torch.equal(first[0]["volume"], other[0]["volume"])
    assert first[1]["mask"][0, :, :, 0].sum() == 32


def test_data_module_batches_and_held_out_inlines(tmp_path: Path):
    survey = np.random.default_rng(4).normal(size=(20, 9, 16)).astype(np.float32)
    np.save(tmp_path / "survey.npy", survey)
    module = SeismicDataModule(patch_shape=(4, 8, 16), batch_size=3, train_size=5, val_size=2,
                               volumes=[str(tmp_path / "survey.npy")], val_fraction=0.25)
    module.setup()
    np.testing.assert_array_equal(module.train_set.volumes[0], survey[:15])
    np.testing.assert_array_equal(module.val_set.volumes[0], survey[15:])
    fields, context = next(iter(module.train_dataloader()))
    assert fields["volume"].shape == context["mask"].shape == (3, 1, 4, 8, 16)
    assert torch.equal(context["observed"], fields["volume"] * context["mask"])
    synthetic = SeismicDataModule(patch_shape=(8, 8, 16), batch_size=2, train_size=2, val_size=2)
    synthetic.setup()
    train, val = next(iter(synthetic.train_dataloader())), next(iter(synthetic.val_dataloader()))
    assert not torch.equal(train[0]["volume"], val[0]["volume"])


def test_volumes_smaller_than_the_patch_are_named():
    with pytest.raises(DataError, match=r"small.npy: volume \(3, 8, 16\) is smaller than the patch \(4, 8, 16\)"):
        VolumePatchDataset([np.zeros((3, 8, 16))], ["small.npy"], 1, (4, 8, 16), 0, MaskSampler())


def test_mask_sampler_options_are_checked_early_and_never_drop_every_trace():
    with pytest.raises(ConfigError, match="mask pattern 'gap'"):
        MaskSampler("gap", {"fraction": 0.5})
    sampler = MaskSampler("random", {"missing_fraction": 1.0})
    assert sampler((3, 4), np.random.default_rng(0)).sum() == 1
