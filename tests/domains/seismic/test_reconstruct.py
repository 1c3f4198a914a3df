"""Reconstruction: known answers of the API, the command line end to end, and bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from domains.seismic import reconstruct as reconstruct_module
from domains.seismic import segy
from domains.seismic.baselines import linear_interpolation
from domains.seismic.denoisers import UNet3dDenoiser
from domains.seismic.masks import random_traces, save_mask
from domains.seismic.reconstruct import main, reconstruct
from domains.seismic.segy import new_headers, read_segy, write_segy
from domains.seismic.symmetry import symmetry_average
from domains.seismic.synthetic import synthetic_volume
from sciddm import DiffusionModule, GaussianField, VPCosine
from sciddm.cli import main as sciddm_main
from sciddm.errors import ConfigError
from sciddm.sampling import Sampler

SHAPE = (12, 10, 16)
PATCH = (8, 8, 16)
CONDITIONS = ("observed", "mask", "interpolated")


def module(residual: bool) -> DiffusionModule:
    torch.manual_seed(0)
    network = UNet3dDenoiser(channels=(4, 8), time_dim=8, groups=2, condition_keys=CONDITIONS,
                             residual_key="interpolated" if residual else None)
    return DiffusionModule(network, {"volume": GaussianField(VPCosine(), prediction="x0")}, ema_decay=None,
                           sampler=Sampler(steps=3))


@pytest.fixture(scope="module")
def survey() -> tuple[np.ndarray, np.ndarray]:
    return 3.0 * synthetic_volume(SHAPE, seed=7), random_traces(SHAPE[:2], 0.5, seed=1)


@pytest.mark.parametrize("method", ["replace", "dps", "none"])
def test_untrained_residual_model_returns_the_linear_interpolation(survey, method):
    """Zero-initialised corrections: every clean estimate is the interpolated condition, so stitching,
    normalisation and every steering method must give back the linear interpolation of the survey."""
    volume, mask = survey
    result = reconstruct(module(residual=True), volume, mask, PATCH, method, ensemble=2, overlap=2, batch_size=3,
                         interpolate=True)
    expected = linear_interpolation(volume * mask[..., None], mask)
    np.testing.assert_allclose(result.mean, expected, rtol=1e-5, atol=1e-5 * np.abs(volume).max())
    np.testing.assert_allclose(result.std, 0.0, atol=1e-5 * np.abs(volume).max())
    assert result.nfe == 3 + 1  # three solver steps and the final denoising at t_min
    assert result.network_calls == 2 * 2 * 4  # 2 members x 2 batches (4 patches, 3 per call) x 4 evaluations


def test_replacement_keeps_observed_traces_exactly_and_ensemble_is_mean_and_std_of_members(survey):
    volume, mask = survey
    net = module(residual=False)
    kwargs = {"overlap": 2, "batch_size": 4, "interpolate": True}
    pair = reconstruct(net, volume, mask, PATCH, "replace", ensemble=2, seed=5, **kwargs)
    members = [reconstruct(net, volume, mask, PATCH, "replace", seed=s, **kwargs).mean for s in (5, 6)]
    np.testing.assert_allclose(pair.mean, (members[0] + members[1]) / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pair.std, np.abs(members[0] - members[1]) / 2, rtol=1e-4, atol=1e-5)
    for result in (pair.mean, *members):
        np.testing.assert_array_equal(result[mask], volume[mask])
    assert np.all(pair.std[mask] == 0) and np.mean(pair.std[~mask] > 0) > 0.99
    assert not np.allclose(members[0][~mask], members[1][~mask])


@pytest.mark.parametrize(("options", "message"), [
    ({"interpolate": False}, r"conditioned on \['interpolated'\]"),
    ({"method": "repaint"}, "unknown reconstruction method 'repaint'"),
    ({"ensemble": 0}, "ensemble must be >= 1"),
])
def test_reconstruction_option_errors(survey, options, message):
    volume, mask = survey
    with pytest.raises(ConfigError, match=message):
        reconstruct(module(residual=True), volume, mask, PATCH, **{"interpolate": True, **options})


def test_estimate_is_the_one_step_clean_estimate_with_observed_traces_copied(survey):
    volume, mask = survey
    net = module(residual=False)
    kwargs = {"overlap": 2, "batch_size": 4, "interpolate": True}
    estimate = reconstruct(net, volume, mask, PATCH, "estimate", **kwargs)
    one_step = Sampler(solver="ddim", steps=1, grid=net.sampler.grid, denoise_final=False)
    free = reconstruct(net, volume, mask, PATCH, "none", one_step, **kwargs)
    assert estimate.nfe == 1
    np.testing.assert_array_equal(estimate.mean[mask], volume[mask])
    np.testing.assert_array_equal(estimate.mean[~mask], free.mean[~mask])
    assert not np.allclose(free.mean[mask], volume[mask])  # the network alone does not reproduce them


@pytest.mark.parametrize("count", [4, 8])
def test_symmetries_average_the_reconstruction_over_the_grid_maps(survey, count):
    """Mean over the grid maps of the single-orientation reconstruction (checked against symmetry_average)."""
    volume, mask = survey
    net = module(residual=False)
    kwargs = {"overlap": 2, "batch_size": 4, "interpolate": True, "seed": 3}
    averaged = reconstruct(net, volume, mask, PATCH, "estimate", symmetries=count, **kwargs)
    expected = symmetry_average(lambda v, m: reconstruct(net, v, m, PATCH, "estimate", **kwargs).mean, volume, mask,
                                transpose=count == 8)
    np.testing.assert_allclose(averaged.mean, expected, rtol=1e-6, atol=1e-6)
    single = reconstruct(net, volume, mask, PATCH, "estimate", **kwargs)
    assert averaged.network_calls == count * single.network_calls
    assert not np.allclose(averaged.mean, single.mean)
    with pytest.raises(ConfigError, match="number of grid symmetries 3; choose one of: 1, 4, 8"):
        reconstruct(net, volume, mask, PATCH, "estimate", symmetries=3, **kwargs)


def test_polarity_averages_the_reconstruction_of_the_survey_and_of_its_negative(survey):
    """``(R(v) - R(-v)) / 2`` by hand, observed samples kept bit for bit, twice the network calls; with the
    grid symmetries it is the symmetry average of the polarity average."""
    volume, mask = survey
    net = module(residual=False)
    kwargs = {"overlap": 2, "batch_size": 4, "interpolate": True, "seed": 3}
    single = lambda v: reconstruct(net, v, mask, PATCH, "estimate", **kwargs)  # noqa: E731
    averaged = reconstruct(net, volume, mask, PATCH, "estimate", polarity=True, **kwargs)
    np.testing.assert_allclose(averaged.mean, (single(volume).mean - single(-volume).mean) / 2, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(averaged.mean[mask], volume[mask])
    assert averaged.network_calls == 2 * single(volume).network_calls
    assert not np.allclose(averaged.mean, single(volume).mean)  # the network is not odd in its input
    both = reconstruct(net, volume, mask, PATCH, "estimate", symmetries=4, polarity=True, **kwargs)
    expected = symmetry_average(lambda v, m: reconstruct(net, v, m, PATCH, "estimate", polarity=True, **kwargs).mean,
                                volume, mask, transpose=False)
    np.testing.assert_allclose(both.mean, expected, rtol=1e-6, atol=1e-6)


def test_polarity_leaves_an_odd_reconstruction_unchanged(survey):
    """The untrained residual model returns the linear interpolation, which is odd in the data."""
    volume, mask = survey
    kwargs = {"overlap": 2, "batch_size": 4, "interpolate": True}
    result = reconstruct(module(residual=True), volume, mask, PATCH, "estimate", polarity=True, **kwargs)
    expected = linear_interpolation(volume * mask[..., None], mask)
    np.testing.assert_allclose(result.mean, expected, rtol=1e-5, atol=1e-5 * np.abs(volume).max())


class IdentityNetwork(torch.nn.Module):
    """With the x0 parametrisation: the clean estimate is the noisy input itself."""

    def forward(self, x_t, t, context):
        return {"volume": x_t["volume"]}


def test_dps_moves_the_estimate_by_zeta_along_the_unit_misfit_gradient():
    """One DDIM step from t_max (alpha ~ 5.5e-4) to t_min (sigma ~ 5.5e-4) returns the clean estimate to within
    1e-3; with x0 = x_t the DPS-corrected estimate is x_T - zeta r / ||r||, r = M (x_T - y), in normalised units."""
    volume = 2.0 * synthetic_volume(PATCH, seed=3)
    mask = random_traces(PATCH[:2], 0.5, seed=2)
    net = DiffusionModule(IdentityNetwork(), {"volume": GaussianField(VPCosine(), prediction="x0")}, ema_decay=None)
    one_step = Sampler(solver="ddim", steps=1, denoise_final=False)
    run = lambda method: reconstruct(net, volume, mask, PATCH, method, one_step, guidance_scale=2.0).mean  # noqa: E731
    free, guided = run("none"), run("dps")
    scale = np.sqrt(np.mean(volume[mask] ** 2))
    residual = np.where(mask[..., None], free - volume, 0.0)
    expected = free - 2.0 * scale * residual / np.linalg.norm(residual)
    np.testing.assert_allclose(guided, expected, rtol=0, atol=5e-3 * scale)
    assert np.abs(guided - free).max() > 0.1 * scale


# ------------------------------------------------------------------------------------------------ command line
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """configs/seismic/synthetic.yaml shrunk to a tiny model, trained three steps through ``sciddm fit``."""
    root = tmp_path_factory.mktemp("seismic_fit")
    config = yaml.safe_load(Path("configs/seismic/synthetic.yaml").read_text())
    config["trainer"].update(max_steps=3, default_root_dir=str(root), enable_progress_bar=False,
                             limit_val_batches=1)
    network = config["model"]["init_args"]["network"]["init_args"]
    network.update(channels=[4, 8], time_dim=8, groups=2)
    config["model"]["init_args"].update(val_num_samples=2, sampler={"solver": "dpmpp_2m", "steps": 3})
    config["data"]["init_args"].update(patch_shape=list(PATCH), synthetic_volume_shape=[12, 12, 16],
                                       train_size=12, batch_size=4, val_size=4, test_size=4)
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert sciddm_main(["fit", "--config", str(path)]) == 0
    (ckpt,) = root.glob("lightning_logs/version_0/checkpoints/*.ckpt")
    return path, ckpt


def segy_survey(directory: Path, survey) -> Path:
    """The survey as SEG-Y with inline numbers from 100, crossline numbers from 7 and odd unassigned bytes."""
    volume, _ = survey
    headers = new_headers(SHAPE[:2], SHAPE[2], first_inline=100, first_crossline=7)
    headers.trace[:, 232:236] = np.arange(len(headers.trace) * 4, dtype=np.uint8).reshape(-1, 4) % 251
    path = directory / "survey.sgy"
    write_segy(path, volume, headers)
    return path


def command(trained, survey_path: Path, mask_path: Path, output: Path, *extra: str) -> list[str]:
    config, ckpt = trained
    return ["--config", str(config), "--ckpt_path", str(ckpt), "--input", str(survey_path), "--mask",
            str(mask_path), "--output", str(output), "--steps", "3", *extra]


def test_command_line_reconstructs_a_segy_survey_with_its_headers(trained, survey, tmp_path, capsys):
    volume, mask = survey
    source = segy_survey(tmp_path, survey)
    save_mask(tmp_path / "mask.npy", mask)
    output = tmp_path / "out" / "recon.sgy"
    assert main(command(trained, source, tmp_path / "mask.npy", output, "--ensemble", "2")) == 0
    assert "reconstruction: " in capsys.readouterr().out
    original, result, std = read_segy(source), read_segy(output), read_segy(tmp_path / "out" / "recon_std.sgy")
    for written in (result, std):
        assert written.headers.text == original.headers.text and written.headers.binary == original.headers.binary
        np.testing.assert_array_equal(written.headers.trace, original.headers.trace)
        np.testing.assert_array_equal(written.inlines, np.arange(100, 112))
    np.testing.assert_array_equal(result.data[mask], original.data[mask])
    assert np.isfinite(result.data).all() and np.abs(result.data[~mask]).mean() > 0
    assert np.all(std.data[mask] == 0) and std.data[~mask].max() > 0
    again = tmp_path / "again.sgy"
    assert main(command(trained, source, tmp_path / "mask.npy", again, "--ensemble", "2")) == 0
    assert again.read_bytes() == output.read_bytes()


def test_command_line_without_mask_fills_dead_traces_of_a_npy_volume(trained, survey, tmp_path):
    volume, mask = survey
    np.save(tmp_path / "survey.npy", volume * mask[..., None])
    output = tmp_path / "recon.npy"
    args = command(trained, tmp_path / "survey.npy", tmp_path / "unused.npy", output, "--method", "none")
    args.remove("--mask")
    args.remove(str(tmp_path / "unused.npy"))
    assert main(args) == 0
    result = np.load(output)
    assert result.shape == SHAPE and np.abs(result[~mask]).mean() > 0


def assert_failed_cleanly(code: int, capsys, directory: Path, *names: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in lines[0]
    for name in names:
        assert name in lines[0]
    assert not [p for p in directory.iterdir() if p.name.startswith((".recon", "recon"))]
    return lines[0]


def test_mask_shape_mismatch_names_both_files(trained, survey, tmp_path, capsys):
    source = segy_survey(tmp_path, survey)
    np.save(tmp_path / "mask.npy", np.ones((5, 5), dtype=bool))
    code = main(command(trained, source, tmp_path / "mask.npy", tmp_path / "recon.sgy"))
    line = assert_failed_cleanly(code, capsys, tmp_path, str(tmp_path / "mask.npy"), str(source))
    assert "(5, 5)" in line and "(12, 10)" in line


@pytest.mark.parametrize("content", [b"this is not a SEG-Y file\n" * 200, None])
def test_non_segy_and_truncated_input_name_the_file(trained, survey, tmp_path, capsys, content):
    source = segy_survey(tmp_path, survey)
    if content is None:
        source.write_bytes(source.read_bytes()[:-100])
    else:
        source.write_bytes(content)
    save_mask(tmp_path / "mask.npy", survey[1])
    code = main(command(trained, source, tmp_path / "mask.npy", tmp_path / "recon.sgy"))
    assert_failed_cleanly(code, capsys, tmp_path, str(source))


def test_bad_output_suffix_fails_before_any_work(trained, survey, tmp_path, capsys):
    source = segy_survey(tmp_path, survey)
    save_mask(tmp_path / "mask.npy", survey[1])
    code = main(command(trained, source, tmp_path / "mask.npy", tmp_path / "recon.txt"))
    assert_failed_cleanly(code, capsys, tmp_path, str(tmp_path / "recon.txt"), ".sgy")


def test_command_line_estimate_averaged_over_the_grid_symmetries(trained, survey, tmp_path, capsys):
    volume, mask = survey
    source = segy_survey(tmp_path, survey)
    save_mask(tmp_path / "mask.npy", mask)
    output = tmp_path / "recon.sgy"
    assert main(command(trained, source, tmp_path / "mask.npy", output, "--method", "estimate",
                        "--symmetries", "8")) == 0
    assert "nfe per patch: 1, network calls: 8" in capsys.readouterr().out  # 12 x 10 grid: one 8 x 8 patch batch
    assert main(command(trained, source, tmp_path / "mask.npy", tmp_path / "both.sgy", "--method", "estimate",
                        "--symmetries", "8", "--polarity")) == 0
    assert "nfe per patch: 1, network calls: 16" in capsys.readouterr().out
    result = read_segy(output).data
    np.testing.assert_array_equal(result[mask], read_segy(source).data[mask])
    code = main(command(trained, source, tmp_path / "mask.npy", tmp_path / "bad.sgy", "--symmetries", "3"))
    assert code == 2 and "number of grid symmetries 3" in capsys.readouterr().err
    assert not (tmp_path / "bad.sgy").exists()


def test_command_line_adapts_to_the_survey_before_reconstructing(trained, survey, tmp_path):
    """``--adapt_steps 2`` changes the missing traces, keeps the observed ones, and repeats itself exactly;
    ``--adapt_schedule cosine`` halves the second step's learning rate, so it changes them again."""
    volume, mask = survey
    np.save(tmp_path / "survey.npy", volume)
    save_mask(tmp_path / "mask.npy", mask)
    outputs = {}
    for name, extra in {"plain": (), "adapted": ("--adapt_steps", "2", "--adapt_lr", "1e-2"),
                        "again": ("--adapt_steps", "2", "--adapt_lr", "1e-2"),
                        "cosine": ("--adapt_steps", "2", "--adapt_lr", "1e-2", "--adapt_schedule", "cosine")}.items():
        outputs[name] = tmp_path / f"{name}.npy"
        assert main(command(trained, tmp_path / "survey.npy", tmp_path / "mask.npy", outputs[name], "--method",
                            "estimate", *extra)) == 0
    plain, adapted, again, cosine = (np.load(outputs[k]) for k in ("plain", "adapted", "again", "cosine"))
    np.testing.assert_array_equal(adapted[mask], volume[mask])
    np.testing.assert_array_equal(adapted, again)
    assert not np.allclose(adapted[~mask], plain[~mask]) and not np.allclose(cosine[~mask], adapted[~mask])


@pytest.mark.parametrize("where", ["reconstruct", "write"])
def test_interrupted_run_leaves_no_output(trained, survey, tmp_path, capsys, monkeypatch, where):
    source = segy_survey(tmp_path, survey)
    save_mask(tmp_path / "mask.npy", survey[1])

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "write":  # after segyio wrote the temporary file, before the headers are put back
        monkeypatch.setattr(segy, "_put_raw_headers", interrupt)
    else:
        monkeypatch.setattr(reconstruct_module, "reconstruct", interrupt)
    code = main(command(trained, source, tmp_path / "mask.npy", tmp_path / "recon.sgy"))
    assert_failed_cleanly(code, capsys, tmp_path, "interrupted")


def test_sciddm_sample_reconstructs_held_out_patches(trained, tmp_path):
    config, ckpt = trained
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name / "samples.npy"
        assert sciddm_main(["sample", "--config", str(config), "--ckpt_path", str(ckpt), "--num_samples", "3",
                            "--steps", "2", "--batch_size", "2", "--output", str(out)]) == 0
        runs.append(np.load(out))
        metrics = json.loads(out.with_suffix(".metrics.json").read_text())
        assert metrics["nfe"] == 3 and np.isfinite(metrics["snr_db_missing"]) and 0 < metrics["missing_fraction"] < 1
        assert out.with_suffix(".png").stat().st_size > 10_000
    assert runs[0].shape == (3, *PATCH)
    np.testing.assert_array_equal(runs[0], runs[1])
