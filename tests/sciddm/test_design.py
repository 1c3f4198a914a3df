"""``sciddm guide`` end to end on the toy ring (continuous) and the WW-domain protein model (categorical, NELBO),
and its bad-input paths (one line, exit 2, nothing written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sciddm.checkpoints import load_model
from sciddm.cli import main
from sciddm.design import without_cache
from sciddm.rewards import FunctionReward
from tests.sciddm.toy_run import CONFIG

SPEC = "tests.sciddm.test_design"


def first_coordinate(scale: float = 1.0) -> FunctionReward:
    return FunctionReward(lambda samples, context: scale * samples["x"][:, 0], differentiable=True, name="x1")


def not_differentiable() -> FunctionReward:
    return FunctionReward(lambda samples, context: samples["x"][:, 0], name="opaque")


def returns_nan() -> FunctionReward:
    return FunctionReward(lambda samples, context: samples["x"][:, 0] * torch.nan, name="broken")


def wrong_shape() -> FunctionReward:
    return FunctionReward(lambda samples, context: samples["x"], name="vector")


def not_a_reward():
    return lambda samples, context: samples["x"][:, 0]


def first_residue_fraction() -> FunctionReward:
    """Fraction of real positions holding token 0 (expected fraction on probability vectors)."""

    def fraction(samples, context):
        x = samples["seq"]
        p = x[..., 0] if x.is_floating_point() else (x == 0).float()
        mask = context["mask"].float()
        return (p * mask).sum(-1) / mask.sum(-1)

    return FunctionReward(fraction, differentiable=True, name="first_residue")


def guide(ckpt, out, method, reward="first_coordinate", *extra, config=CONFIG, num_samples=12):
    return main(["guide", "--config", config, "--ckpt_path", str(ckpt), "--reward", f"{SPEC}:{reward}",
                 "--method", method, "--num_samples", str(num_samples), "--output", str(out), *extra])


def read_scores(out: Path) -> tuple[list[dict], dict]:
    with open(out.with_suffix(".scores.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows, json.loads(out.with_suffix(".scores.json").read_text())


def test_best_of_n_writes_designs_scores_costs_and_picture(toy_checkpoint, tmp_path):
    out = tmp_path / "designs.npy"
    assert guide(toy_checkpoint, out, "best_of_n", "first_coordinate", "--particles", "4", "--steps", "5",
                 "--solver", "ddim") == 0
    designs = np.load(out)
    rows, report = read_scores(out)
    assert designs.shape == (12, 2) and len(rows) == 12
    np.testing.assert_allclose([float(r["reward"]) for r in rows], designs[:, 0], rtol=1e-5, atol=1e-6)
    assert report["network_evaluations_per_sample"] == 4 * 5 and report["reward_evaluations_per_sample"] == 4
    assert report["nelbo_bits_per_token_summary"] is None and rows[0]["nelbo_bits_per_token"] == ""
    assert out.with_suffix(".reward.png").stat().st_size > 1000
    plain = tmp_path / "plain.npy"
    assert guide(toy_checkpoint, plain, "none", "first_coordinate", "--steps", "5", "--solver", "ddim") == 0
    assert designs[:, 0].mean() > np.load(plain)[:, 0].mean()
    assert read_scores(plain)[1]["reward_evaluations_per_sample"] == 0


def test_smc_svdd_tds_and_gradient_run_on_a_stochastic_solver(toy_checkpoint, tmp_path):
    # the toy's linear-flow grid ends at sigma = 0: 4 steps are 4 evaluations (SVDD skips the terminal one)
    for method, cost in (("smc", (4 * 3, 5 * 3)), ("svdd", (1 + 3 * 3, 4 * 3 + 1)), ("tds", (4 * 3, 5 * 3)),
                         ("gradient", (4, 4))):
        out = tmp_path / f"{method}.npy"
        assert guide(toy_checkpoint, out, method, "first_coordinate", "--particles", "3", "--steps", "4",
                     "--solver", "ddpm", "--scale", "0.5") == 0
        report = read_scores(out)[1]
        assert (report["network_evaluations_per_sample"], report["reward_evaluations_per_sample"]) == cost, method


@pytest.mark.parametrize(("method", "reward", "extra", "message"), [
    ("beam", "first_coordinate", [], "unknown guidance method 'beam'"),
    ("gradient", "not_differentiable", [], "method 'gradient' needs a differentiable reward; 'opaque' is not"),
    ("tds", "not_differentiable", [], "method 'tds' needs a differentiable reward"),
    ("best_of_n", "returns_nan", [], "reward 'broken' returned a non-finite value"),
    ("best_of_n", "wrong_shape", [], "must return a tensor of shape (96,), got (96, 2)"),
    ("best_of_n", "not_a_reward", [], "returned function, not a sciddm.rewards.Reward"),
    ("best_of_n", "missing", [], "has no callable 'missing'"),
    ("cfg", "first_coordinate", [], "method 'cfg' needs --condition"),
    ("best_of_n", "first_coordinate", ["--reward_args", "[1]"], "--reward_args must be a JSON object"),
    ("smc", "first_coordinate", ["--solver", "ddim"], "stochastic one-step solver"),
])
def test_bad_input_is_one_line_and_writes_nothing(toy_checkpoint, tmp_path, capsys, method, reward, extra, message):
    out = tmp_path / "designs.npy"
    assert guide(toy_checkpoint, out, method, reward, "--steps", "3", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert list(tmp_path.iterdir()) == []


def test_categorical_model_gets_nelbo_scores_and_gradient_guidance_raises_the_reward(tmp_path):
    config = "configs/sequences/ww_protein.yaml"
    module, _, _ = load_model(config)  # untrained weights: the reward tilt works on any prediction
    ckpt = tmp_path / "untrained.ckpt"
    torch.save({"state_dict": module.state_dict()}, ckpt)
    means = {}
    for method in ("none", "gradient"):
        out = tmp_path / f"{method}.fasta"
        code = main(["guide", "--config", config, "--ckpt_path", str(ckpt),
                     "--reward", f"{SPEC}:first_residue_fraction", "--method", method, "--num_samples", "16",
                     "--steps", "8", "--scale", "300", "--nelbo_times", "2", "--output", str(out)])
        assert code == 0
        rows, report = read_scores(out)
        assert out.read_text().count(">") == 16
        assert all(float(r["nelbo_bits_per_token"]) > 0 for r in rows)
        means[method] = report["reward_summary"]["mean"]
    assert means["gradient"] > means["none"] + 0.2


@pytest.mark.parametrize(("spec", "expected"), [
    ("cached", "ancestral"), ("cached:final=greedy", "ancestral:final=greedy"),
    ("cached:temperature=0.8", "ancestral:temperature=0.8"), ("remdm:eta=0.1", "remdm:eta=0.1")])
def test_gradient_guidance_turns_the_cache_off_and_keeps_the_solver_options(spec, expected):
    assert without_cache(spec) == expected
