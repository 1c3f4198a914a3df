import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from domains.seismic.baselines import linear_interpolation
from domains.seismic.data import (
    MaskSampler,
    SeismicDataModule,
    SyntheticPatchDataset,
    VolumePatchDataset,
    fit_normalization,
    make_example,
)
from domains.seismic.masks import random_traces
from domains.seismic.segy import read_segy
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


def test_synthetic_patches_are_crops_of_the_pooled_volumes():
    dataset = SyntheticPatchDataset(6, (4, 5, 8), seed=2, masks=MaskSampler("random", {"missing_fraction": 0.5}),
                                    volume_shape=(9, 9, 12), pool_size=1)
    fields, context = dataset[3]
    (pooled,) = dataset._pool.values()
    patch = fields["volume"][0].numpy()
    found = []
    for corner in itertools.product(*(range(v - p + 1) for v, p in zip((9, 9, 12), (4, 5, 8), strict=True))):
        crop = pooled[tuple(slice(c, c + p) for c, p in zip(corner, (4, 5, 8), strict=True))]
        mask = context["mask"][0].numpy() > 0
        scale = np.sqrt(np.mean(crop[mask] ** 2))
        if np.allclose(crop / scale, patch, rtol=1e-5, atol=1e-6):
            found.append(corner)
    assert len(found) == 1
    with pytest.raises(ConfigError, match="must be 3D and hold the patch"):
        SyntheticPatchDataset(1, (4, 5, 8), seed=0, masks=MaskSampler(), volume_shape=(3, 9, 12))


def test_interpolated_condition_is_the_linear_interpolation_of_the_observed_traces(volume):
    mask = random_traces((6, 7), 0.5, seed=3)
    fields, context = make_example(volume, mask, fit_normalization(volume, mask), interpolate=True)
    observed = context["observed"][0].numpy()
    expected = linear_interpolation(observed, mask)
    np.testing.assert_array_equal(context["interpolated"][0].numpy(), expected)
    np.testing.assert_array_equal(expected[mask], fields["volume"][0].numpy()[mask])
    with pytest.raises(ConfigError, match="needs a trace mask"):
        make_example(volume, np.ones(volume.shape, bool), fit_normalization(volume, mask), interpolate=True)


@pytest.fixture
def data_module() -> SeismicDataModule:
    module = SeismicDataModule(patch_shape=(4, 8, 16), batch_size=2, train_size=4, val_size=2, test_size=5,
                               synthetic_volume_shape=(8, 8, 16), mask_pattern="random",
                               mask_options={"missing_fraction": 0.5}, interpolate=True, seed=3)
    module.setup()
    return module


def test_sample_template_carries_held_out_examples(data_module):
    template, context = data_module.sample_template(3, torch.Generator().manual_seed(0))
    assert template["volume"].shape == (3, 1, 4, 8, 16) and not template["volume"].any()
    for row, index in enumerate(context["index"].tolist()):
        _, expected = data_module.test_set[index]
        for key in ("observed", "mask", "interpolated"):
            assert torch.equal(context[key][row], expected[key])


def test_evaluate_samples_scores_against_the_true_patches(data_module):
    template, context = data_module.sample_template(2, torch.Generator().manual_seed(1))
    truth = torch.stack([data_module.test_set[int(i)][0]["volume"] for i in context["index"]])
    perfect = data_module.evaluate_samples({"volume": truth}, context)
    assert perfect["mse"] == 0 and perfect["ssim"] == pytest.approx(1.0) and perfect["snr_db_missing"] == np.inf
    zero_filled = data_module.evaluate_samples({"volume": context["observed"]}, context)
    assert zero_filled["snr_db_missing"] == pytest.approx(0.0, abs=1e-9)
    assert zero_filled["missing_fraction"] == pytest.approx(0.5)


def test_write_and_render_samples(data_module, tmp_path: Path):
    template, context = data_module.sample_template(2, torch.Generator().manual_seed(2))
    samples = {"volume": torch.randn(template["volume"].shape, generator=torch.Generator().manual_seed(3))}
    written = data_module.write_samples(samples, context, tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(written), samples["volume"][:, 0].numpy())
    segy = read_segy(data_module.write_samples(samples, context, tmp_path / "s.sgy"))
    np.testing.assert_array_equal(segy.data, samples["volume"][:, 0].reshape(8, 8, 16).numpy())
    np.testing.assert_array_equal(segy.inlines, np.arange(1, 9))
    with pytest.raises(ConfigError, match="s.txt"):
        data_module.write_samples(samples, context, tmp_path / "s.txt")
    picture = data_module.render_samples(samples, context, tmp_path / "s.png")
    assert picture.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy", "s.png", "s.sgy"]
