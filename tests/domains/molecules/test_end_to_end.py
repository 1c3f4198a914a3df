"""The molecule configs train, sample and evaluate through the CLI at tiny sizes; the priors fitting counts
(``marginal: data``) are the training split's marginals; bad inputs fail with one line."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from domains.molecules.data import MoleculeDataModule
from domains.molecules.io import read_sdf
from domains.molecules.representation import QM9_MARGINALS
from sciddm.cli import main

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "molecules"


def tiny(cache: Path, root: Path) -> list[str]:
    return ["--data.init_args.max_molecules", "40", "--data.init_args.cache_dir", str(cache),
            "--data.init_args.batch_size", "8", "--model.init_args.network.init_args.hidden_dim", "16",
            "--model.init_args.network.init_args.num_layers", "1", "--trainer.max_steps", "3",
            "--trainer.val_check_interval", "3", "--trainer.check_val_every_n_epoch", "1",
            "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1",
            "--model.init_args.val_num_samples", "6", "--model.init_args.sampler.steps", "3",
            "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(root),
            "--trainer.logger", "pytorch_lightning.loggers.CSVLogger", "--trainer.logger.save_dir", str(root)]


def test_quick_config_fits_samples_and_scores(qm9_cache, tmp_path, capsys):
    """Three training steps, then sampling: an SDF with one record per sample, a picture, metrics (invalid
    molecules from an untrained model are counted, not fatal), and the evaluator reads the SDF back."""
    config = CONFIGS / "qm9_quick.yaml"
    assert main(["fit", "--config", str(config), *tiny(qm9_cache, tmp_path)]) == 0
    logged = next(tmp_path.rglob("metrics.csv")).read_text()
    assert "val/validity" in logged and "val/loss_bonds" in logged
    checkpoint = next(tmp_path.rglob("*.ckpt"))
    run_config = next(tmp_path.rglob("config.yaml"))
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    data = MoleculeDataModule(**yaml.safe_load(run_config.read_text())["data"]["init_args"])
    for name, expected in data.marginals.items():  # counted by the module on the training loader
        torch.testing.assert_close(state[f"data_marginal__{name}"], expected.double(), atol=1e-12, rtol=0)
    output = tmp_path / "samples" / "s.sdf"
    assert main(["sample", "--config", str(run_config), "--ckpt_path", str(checkpoint), "--num_samples", "12",
                 "--steps", "4", "--batch_size", "5", "--output", str(output)]) == 0
    molecules = read_sdf(output)
    assert len(molecules) == 12 and all("H" not in m.elements for m in molecules)
    metrics = json.loads(output.with_suffix(".metrics.json").read_text())
    assert metrics["num_molecules"] == 12 and metrics["nfe"] == 5  # 4 steps + the final denoising call
    assert 0.0 <= metrics["validity"] <= 1.0 and "edm_atom_stability" not in metrics  # no H: no valence counts
    assert output.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["evaluate", "molecules", str(output), "--implicit_hydrogens", "true", "--fcd", "false"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_molecules"] == 12 and report["validity"] == pytest.approx(metrics["validity"])


@pytest.mark.slow
def test_qm9_marginal_constants_are_the_training_split_marginals():
    data = MoleculeDataModule()
    for name, values in QM9_MARGINALS.items():
        assert list(values) == pytest.approx(data.marginals[name].tolist(), abs=1e-6)


def test_bad_config_values_fail_with_one_line(tmp_path, capsys):
    config = CONFIGS / "qm9_quick.yaml"
    assert main(["fit", "--config", str(config), "--data.init_args.train_half", "third",
                 "--trainer.default_root_dir", str(tmp_path)]) == 2
    assert "train_half must be 'first', 'second' or null" in capsys.readouterr().err
