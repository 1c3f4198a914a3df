"""End-to-end run of benchmarks/seismic.py at a tiny budget (slow: trains two steps of the benchmark model)."""

import json
import sys

import numpy as np
import pytest

from benchmarks import seismic as benchmark
from domains.seismic.baselines import linear_interpolation
from domains.seismic.masks import random_traces, volume_mask
from domains.seismic.metrics import snr_db
from domains.seismic.synthetic import synthetic_volume


@pytest.mark.slow
def test_two_step_benchmark_scores_baselines_learning_curve_and_near_untrained_model(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["seismic.py", "--train_steps", "2", "--checkpoint_every", "1", "--volumes", "1",
                                      "--steps", "2", "--ensemble", "2", "--adapt_steps", "1", "--adapt_replay", "1",
                                      "--out", str(tmp_path)])
    benchmark.main()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["training_steps"] == 2 and saved["training_cpu_seconds"] > 0
    assert sorted(saved["learning_curve"]) == ["1", "2"]
    random = saved["results"]["random 50%"]
    volume = synthetic_volume(benchmark.TEST_SHAPE, benchmark.FIRST_TEST_SEED)
    mask = random_traces(volume.shape[:2], 0.5, benchmark.FIRST_TEST_SEED)
    missing = ~volume_mask(mask, volume.shape)
    linear = snr_db(linear_interpolation(np.where(missing, 0, volume), mask), volume, missing)
    assert random["linear interpolation"][0]["snr_db_missing"] == pytest.approx(linear, abs=1e-9)
    # two warm-up steps barely move the zero-initialised output layer: the one-step estimate is the interpolation
    assert random["(d) network one-step estimate"][0]["snr_db_missing"] == pytest.approx(linear, abs=0.05)
    assert saved["learning_curve"]["2"][benchmark.CURVE_METHODS[0]] == pytest.approx(linear, abs=0.05)
    # ... and its mean over the grid symmetries is the (symmetry-averaged) interpolation, 8 evaluations
    symmetric_linear = random["linear, mean over 8 grid symmetries"][0]["snr_db_missing"]
    symmetric = random[benchmark.CURVE_METHODS[1]][0]
    assert symmetric["snr_db_missing"] == pytest.approx(symmetric_linear, abs=0.05) and symmetric["nfe"] == 8
    assert saved["learning_curve"]["2"][benchmark.CURVE_METHODS[1]] == pytest.approx(symmetric_linear, abs=0.05)
    # ... and so is its polarity average (the interpolation is odd in the data), 16 evaluations
    both = random[benchmark.CURVE_METHODS[2]][0]
    assert both["snr_db_missing"] == pytest.approx(symmetric_linear, abs=0.05) and both["nfe"] == 16
    assert random["(a') replacement, mean of 2"][0]["nfe"] == 2 * (2 + 1)
    # (g): one adaptation step, then (f): on the random mask only, 16 evaluations, its CPU seconds recorded
    (adapted,) = [name for name in random if name.startswith("(g)")]
    assert random[adapted][0]["nfe"] == 16 and random[adapted][0]["cpu_seconds"] > 0
    assert random[adapted][0]["snr_db_missing"] != both["snr_db_missing"]
    assert not any(name.startswith("(g)") for name in saved["results"]["gap of 4 crosslines"])
    assert (tmp_path / "checkpoints" / "step=2.ckpt").exists() and (tmp_path / "slices_random.png").exists()


def test_saved_reconstructions_and_their_average_score_as_the_closed_form(tmp_path):
    seed = benchmark.FIRST_VALIDATION_SEED
    volumes = {seed: synthetic_volume((8, 8, 8), seed)}
    truth = {"(t) truth": lambda volume, mask: (volume, 0)}
    zero = {"(t) zero": lambda volume, mask: (np.zeros_like(volume), 0)}
    runs = [tmp_path / "truth", tmp_path / "zero"]
    for run, methods in zip(runs, (truth, zero), strict=True):
        run.mkdir()
        benchmark.evaluate(methods, volumes, run, save_reconstructions=True)
    saved = np.load(runs[0] / "reconstructions" / "random_50" / "t" / f"volume{seed}.npy")
    np.testing.assert_array_equal(saved, volumes[seed])
    # the mean of the truth and zeros is half the truth: SNR = 20 log10(2) on the missing traces
    benchmark.score_average(runs, "t", volumes, tmp_path)
    (row,) = json.loads((tmp_path / "average.json").read_text())["results"]
    assert row["snr_db_missing"] == pytest.approx(20 * np.log10(2), abs=1e-5)
    with pytest.raises(SystemExit, match=r"volume2001\.npy does not exist"):
        benchmark.score_average(runs, "t", {seed + 1: volumes[seed]}, tmp_path)


@pytest.mark.parametrize(("name", "label"), [("(a) diffusion + replacement", "a"), ("(a') replacement, mean of 4",
                                             "a_prime"), ("random 50%", "random_50"),
                                             ("linear, mean over 8 grid symmetries",
                                              "linear_mean_over_8_grid_symmetries")])
def test_method_labels_are_file_name_safe_and_distinct(name, label):
    assert benchmark.method_label(name) == label


def test_labels_of_all_benchmark_methods_are_distinct():
    """Saved reconstructions are filed by label: no two methods of one run may share one."""
    names = [*benchmark.classical_methods(), "(a) diffusion + replacement", "(a') replacement, mean of 4",
             "(b) diffusion + DPS", "(c) diffusion, no consistency", *benchmark.CURVE_METHODS, "(g) adapted"]
    labels = [benchmark.method_label(name) for name in names]
    assert len(set(labels)) == len(labels) and all(label.replace("_", "").isalnum() for label in labels)
