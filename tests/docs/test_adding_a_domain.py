"""docs/adding_a_domain.md stays true: its Python blocks form a working domain module, its config trains and
samples through the CLI, its evaluator runs through `sciddm evaluate`, and its metrics agree with the closed form."""

import importlib
import json
import math
import re
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import sciddm.evaluation
from sciddm.cli import main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "adding_a_domain.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


@pytest.fixture
def ising_chain(tmp_path, monkeypatch):
    """The page's Python blocks written as the module ``ising_chain`` and imported; its evaluator registered."""
    (tmp_path / "ising_chain.py").write_text("\n\n".join(code_blocks("python")))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("ising_chain", None)
    module = importlib.import_module("ising_chain")
    registered = sciddm.evaluation.entry_points(group=sciddm.evaluation.GROUP)
    entry = EntryPoint(name="ising_chain", value="ising_chain:evaluate_file", group=sciddm.evaluation.GROUP)
    monkeypatch.setattr(sciddm.evaluation, "entry_points", lambda group: [*registered, entry])
    yield module
    sys.modules.pop("ising_chain", None)


def test_the_page_has_one_config_and_registers_the_evaluator_it_defines():
    assert len(code_blocks("yaml")) == 1 and len(code_blocks("python")) == 3
    assert 'ising_chain = "ising_chain:evaluate_file"' in code_blocks("toml")[0]


def test_exact_draws_have_the_closed_form_correlations(ising_chain):
    """C(r) = tanh(J)^r within 5 standard errors (the chain's bonds are independent: Var sigma_i sigma_{i+1}
    = 1 - tanh^2 J per bond), and the magnetisation is zero within its error."""
    coupling, n, length = 0.7, 20000, 16
    spins = ising_chain.sample_chains(n, length, coupling, torch.Generator().manual_seed(0))
    measured = ising_chain.correlations(spins, 3)
    for r, value in enumerate(measured.tolist(), start=1):
        exact = math.tanh(coupling) ** r
        standard_error = math.sqrt((1 - exact**2) / (n * (length - r)))
        assert abs(value - exact) < 5 * standard_error + 2e-3  # 2e-3: positions within a chain are correlated
    metrics = ising_chain.chain_metrics(spins, coupling)
    assert metrics["exact_bond_correlation"] == pytest.approx(math.tanh(coupling))
    assert abs(metrics["magnetisation"]) < 0.03


def test_hand_written_chain_metrics(ising_chain):
    spins = torch.tensor([[1, 1, 0, 0, 1]])  # sigma = + + - - +: bonds +1, -1, +1, -1; distance 2: -1, -1, -1
    measured = ising_chain.correlations(spins, 2)
    torch.testing.assert_close(measured, torch.tensor([0.0, -1.0], dtype=torch.float64))


def test_the_page_config_fits_samples_and_evaluates_through_the_cli(ising_chain, tmp_path, capsys):
    config = tmp_path / "ising_chain.yaml"
    config.write_text(code_blocks("yaml")[0])
    settings = yaml.safe_load(config.read_text())
    assert settings["data"]["class_path"] == "ising_chain.IsingChainDataModule"
    root = tmp_path / "run"
    assert main(["fit", "--config", str(config), "--trainer.max_steps", "3", "--trainer.val_check_interval", "3",
                 "--trainer.limit_val_batches", "1", "--model.init_args.val_num_samples", "8",
                 "--data.init_args.train_size", "256", "--trainer.enable_progress_bar", "false",
                 "--trainer.default_root_dir", str(root)]) == 0
    checkpoint, run_config = next(root.rglob("*.ckpt")), next(root.rglob("config.yaml"))
    output = tmp_path / "chains.npy"
    assert main(["sample", "--config", str(run_config), "--ckpt_path", str(checkpoint), "--num_samples", "16",
                 "--steps", "4", "--categorical_solver", "cached", "--output", str(output)]) == 0
    spins = np.load(output)
    assert spins.shape == (16, 32) and set(np.unique(spins)) <= {0, 1}  # masked diffusion unmasks every spin
    written = json.loads(output.with_suffix(".metrics.json").read_text())
    assert written["categorical_solver"] == "cached" and "solver" not in written  # no continuous field here
    assert written["nfe"] <= 4  # the cached sampler skips steps where no spin is unmasked
    capsys.readouterr()
    assert main(["evaluate", "ising_chain", str(output), "--coupling", "1.0"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = ising_chain.chain_metrics(torch.from_numpy(spins.astype(np.int64)), 1.0)
    assert report == pytest.approx(expected)


def test_bad_spin_files_fail_with_one_line_naming_file_and_record(ising_chain, tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[0, 1, 1], [0, 2, 1]]))
    assert main(["evaluate", "ising_chain", str(bad)]) == 2
    assert f"{bad}, record 1: spins must be 0 or 1" in capsys.readouterr().err
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(5))
    assert main(["evaluate", "ising_chain", str(flat)]) == 2
    assert "expected an array [chains, length >= 2], got shape (5,)" in capsys.readouterr().err
