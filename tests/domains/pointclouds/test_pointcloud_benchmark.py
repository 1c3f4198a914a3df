"""The benchmark's Chamfer comparators against brute force; the seed summary against hand-computed statistics;
its model, priors and completion tasks end to end on tiny runs (slow: a 1000-NFE sampling)."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.pointclouds import (
    completion,
    dense_pairwise_chamfer,
    model,
    morton_order,
    parse_prior,
    priors,
    scipy_pairwise_chamfer,
    summarize,
)
from sciddm.cli import main

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "pointclouds" / "quickstart.yaml"


def test_morton_order_of_the_unit_cube_corners():
    corners = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=float)
    shuffled = corners[[5, 2, 7, 0, 3, 6, 1, 4]]
    np.testing.assert_array_equal(shuffled[morton_order(shuffled)], corners)  # x is the lowest bit, then y, z


def test_scipy_and_dense_comparators_match_brute_force():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3, 40, 3)), rng.normal(size=(2, 30, 3))
    squared = ((x[:, None, :, None] - y[None, :, None]) ** 2).sum(-1)  # [3, 2, 40, 30]
    expected = squared.min(3).mean(2) + squared.min(2).mean(2)
    np.testing.assert_allclose(scipy_pairwise_chamfer(x, y, workers=1), expected, rtol=1e-10)
    np.testing.assert_allclose(dense_pairwise_chamfer(x, y, columns=16), expected, rtol=1e-4)  # float32


def test_seed_summary_and_paired_differences_by_hand():
    per_seed = [{"model": {"one_nna_cd": 0.70, "cov_cd": 0.5}, "jitter": {"one_nna_cd": 0.60, "cov_cd": 0.4}},
                {"model": {"one_nna_cd": 0.60, "cov_cd": 0.3}, "jitter": {"one_nna_cd": 0.65, "cov_cd": 0.4}},
                {"model": {"one_nna_cd": 0.65, "cov_cd": 0.4}, "jitter": {"one_nna_cd": 0.55, "cov_cd": 0.4}}]
    row = summarize(per_seed, ("jitter",))["model"]
    assert row["one_nna_cd"]["mean"] == pytest.approx(0.65) and row["one_nna_cd"]["std"] == pytest.approx(0.05)
    assert row["cov_cd"] == {"mean": pytest.approx(0.4), "std": pytest.approx(0.1)}
    paired = row["1-NNA minus jitter"]  # differences +0.10, -0.05, +0.10: mean 0.05, std 0.0866, s.e. 0.05
    assert paired == {"mean": pytest.approx(0.05), "standard_error": pytest.approx(0.05), "seeds_lower": 1}
    assert parse_prior("kernel:bandwidth=auto,shape=covariance") == ("kernel", {"bandwidth": "auto",
                                                                                "shape": "covariance"})  # fmt: skip
    assert parse_prior("mixture:components=4") == ("mixture", {"components": 4}) and parse_prior("gaussian") == (
        "gaussian", {})  # fmt: skip


@pytest.mark.slow
def test_model_and_completion_tasks_on_a_tiny_run(tmp_path):
    run = tmp_path / "run"
    tiny = ["--data.init_args.source.init_args.count_per_family", "4", "--data.init_args.source.init_args.n_points",
            "32", "--data.init_args.batch_size", "4", "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1",
            "--trainer.val_check_interval", "2", "--model.init_args.val_num_samples", "0",
            "--trainer.enable_progress_bar", "false"]  # fmt: skip
    assert main(["fit", "--config", str(CONFIG), *tiny, "--trainer.default_root_dir", str(run)]) == 0
    scores = model(run, count=2, long_count=1, out=tmp_path / "out")
    assert [t["nfe"] for t in scores["timing"].values()] == [50, 100, 1000]
    assert len(scores["full"]) == 5 and len(scores["small"]) == 5
    assert all(0 <= row["one_nna_cd"] <= 1 for row in scores["full"].values())
    assert (tmp_path / "out" / "samples_50nfe.png").stat().st_size > 0
    result = completion(run, count=2, known_points=16, upsample_known=8, out=tmp_path / "out", conditional_run=run)
    assert len(result["completion"]) == 5 and len(result["upsampling"]) == 4
    assert all(row["cd"] >= 0 and row["emd"] >= 0 for task in result.values() for row in task.values())
    assert (tmp_path / "out" / "completion.png").stat().st_size > 0


@pytest.mark.slow
def test_model_task_on_a_tiny_shape_latent_run(tmp_path):
    config = yaml.safe_load((CONFIG.parent / "latent_procedural.yaml").read_text())
    config["trainer"]["callbacks"][0]["init_args"]["every_n_steps"] = 2  # the config saves every 500 steps
    (tmp_path / "latent.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    tiny = ["--data.init_args.source.init_args.count_per_family", "4", "--data.init_args.source.init_args.n_points",
            "32", "--data.init_args.batch_size", "4", "--trainer.max_steps", "4", "--trainer.limit_val_batches", "1",
            "--trainer.val_check_interval", "2", "--trainer.enable_progress_bar", "false"]  # fmt: skip
    assert main(["fit", "--config", str(tmp_path / "latent.yaml"), *tiny, "--trainer.default_root_dir", str(run)]) == 0
    directory = next(run.rglob("step=2.ckpt")).parent
    cpu_seconds = json.loads((directory / "cpu_seconds.json").read_text())
    assert list(cpu_seconds) == ["2", "4"] and 0 < cpu_seconds["2"] <= cpu_seconds["4"]
    checkpoint = directory / "step=4.ckpt"
    scores = model(run, count=2, long_count=1, out=tmp_path / "out", checkpoint=checkpoint, latent_prior="mixture",
                   prior_options={"components": 2})  # fmt: skip
    assert [t["nfe"] for t in scores["timing"].values()] == [50, 50, 1000]  # no guidance rows; the oracle prior
    assert len(scores["full"]) == 5 and len(scores["small"]) == 5
    assert "model, references' own latents (oracle prior)" in scores["full"]
    true_draw = scores["full"]["true distribution (fresh draw)"]
    assert true_draw["raw_radius"] == pytest.approx(1.0)  # unit-sphere shapes: largest radius exactly 1
    assert all(row["sample_to_reference_cd"] >= 0 for row in scores["full"].values())
    compared = priors(run, count=2, seeds=[0, 1], specs=["gaussian", "kernel:bandwidth=auto"], nfe=50,
                      checkpoint=checkpoint)  # fmt: skip
    assert len(compared["per_seed"]) == 2 and len(compared["summary"]) == 6  # 4 memoriser/draw rows + 2 priors
    assert "validation_log_likelihood" in compared["selection"]["gaussian"]
    assert len(compared["selection"]["kernel:bandwidth=auto"]["bandwidths"]) == 4  # 3 classes and the pooled fit
    seeds = [seed["prior gaussian"]["one_nna_cd"] for seed in compared["per_seed"]]
    assert compared["summary"]["prior gaussian"]["one_nna_cd"]["mean"] == pytest.approx(np.mean(seeds))
    more = priors(run, count=2, seeds=[], specs=["gaussian"], nfe=50, checkpoint=checkpoint, train_per_family=3,
                  validation_per_family=2)  # fmt: skip
    assert set(more) == {"checkpoint", "selection"}  # no seeds: the selection alone
    assert len(more["selection"]["gaussian"]["validation_log_likelihood_per_shape"]) == 6  # 2 fresh per family
    averaged = priors(run, count=2, seeds=[0], specs=["gaussian"], nfe=50, checkpoint=checkpoint, code_samplings=2)
    assert "latent memoriser (training latents decoded)" in averaged["summary"]  # codes of 2 samplings, run's split
