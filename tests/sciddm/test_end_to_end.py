"""End to end through the CLI: train the toy config a few steps, resume, sample, evaluate; and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sciddm.cli import main
from sciddm.errors import TrainingError
from tests.sciddm.toy_run import CONFIG, fit_args


def test_resume_continues_from_checkpoint(toy_checkpoint, tmp_path):
    assert main([*fit_args(tmp_path, 6), "--ckpt_path", str(toy_checkpoint)]) == 0
    (resumed,) = tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt")
    state = torch.load(resumed, map_location="cpu", weights_only=True)
    assert state["global_step"] == 6  # 4 steps restored + 2 new, not 6 from scratch
    assert "step=6" in resumed.name


def test_sample_writes_samples_picture_metrics_and_is_reproducible(toy_checkpoint, tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name / "samples.npy"
        assert main(["sample", "--config", CONFIG, "--ckpt_path", str(toy_checkpoint), "--num_samples", "40",
                     "--steps", "4", "--solver", "ddim", "--batch_size", "16", "--output", str(out)]) == 0
        runs.append(np.load(out))
        metrics = json.loads(out.with_suffix(".metrics.json").read_text())
        assert metrics["nfe"] == 4 and metrics["num_samples"] == 40 and metrics["solver"] == "ddim"
        assert "categorical_solver" not in metrics  # a Gaussian-only model
        assert out.with_suffix(".png").stat().st_size > 1000
    assert runs[0].shape == (40, 2)
    np.testing.assert_array_equal(runs[0], runs[1])
    capsys.readouterr()
    assert main(["evaluate", "toy", str(tmp_path / "a" / "samples.npy")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_samples"] == 40 and report["log_likelihood"] == pytest.approx(metrics["log_likelihood"])


@pytest.mark.parametrize(("args", "message"), [
    (["--solver", "bogus"], "unknown solver 'bogus'"),
    (["--steps", "0"], "steps must be an integer >= 1"),
    (["--grid", "cubic"], "unknown time grid 'cubic'"),
    (["--time_distortion", "square"], "unknown time distortion 'square'"),
])
def test_sample_bad_options(toy_checkpoint, tmp_path, capsys, args, message):
    out = tmp_path / "s.npy"
    code = main(["sample", "--config", CONFIG, "--ckpt_path", str(toy_checkpoint), "--num_samples", "4",
                 "--output", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1]
    assert not out.exists()


def test_missing_and_corrupt_checkpoints(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"\x00not a checkpoint")
    for ckpt, message in ((tmp_path / "none.ckpt", "checkpoint not found"), (corrupt, "not a readable checkpoint")):
        assert main(["sample", "--config", CONFIG, "--ckpt_path", str(ckpt), "--num_samples", "2",
                     "--output", str(tmp_path / "s.npy")]) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert str(ckpt) in last and message in last
    assert not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize(("override", "message"), [
    (["--model.init_args.lr", "abc"], 'Parser key "lr"'),
    (["--model.init_args.fields.x.init_args.prediction", "foo"], "unknown prediction type 'foo'"),
    (["--model.init_args.time_sampling", "beta"], "unknown time sampling 'beta'"),
])
def test_config_with_wrong_values_is_one_line(tmp_path, capsys, override, message):
    assert main([*fit_args(tmp_path, 1), *override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_nan_loss_stops_training_with_clear_message(tmp_path, monkeypatch):
    import sciddm.toy as toy

    original = toy.GaussianRing.sample
    monkeypatch.setattr(toy.GaussianRing, "sample", lambda self, n, generator=None: original(self, n, generator)
                        * float("nan"))
    with pytest.raises(TrainingError, match="training loss is nan at step 0"):
        from sciddm.checkpoints import build_cli

        cli = build_cli(fit_args(tmp_path, 2)[1:])
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)


def test_evaluate_bad_file_names_file(tmp_path, capsys):
    bad = tmp_path / "points.csv"
    bad.write_text("1.0,2.0\n3.0,nan\n")
    assert main(["evaluate", "toy", str(bad)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(bad) in last and "record 1" in last
    assert main(["evaluate", "nodomain", str(bad)]) == 2
    assert "no evaluator for domain 'nodomain'" in capsys.readouterr().err


def test_domain_commands_are_dispatched_by_name(tmp_path, capsys):
    from sciddm.cli import domain_commands

    assert {"reconstruct", "segment", "complete"} <= set(domain_commands())
    missing = tmp_path / "absent.yaml"
    assert main(["segment", "--config", str(missing), "--ckpt_path", str(missing), "--image", str(missing),
                 "--output", str(tmp_path / "seg.nii.gz")]) == 2
    assert str(missing) in capsys.readouterr().err.strip().splitlines()[-1]
    assert main(["nonsense"]) == 2
    assert "reconstruct" in capsys.readouterr().err


def test_saved_config_with_checkpoint_callbacks_samples_with_resampling(tmp_path, capsys):
    """A run whose config lists ModelCheckpoint callbacks rebuilds from its saved config.yaml for sampling, and
    --resample R multiplies the NFE by R (RePaint jumps, single-step solver), only inside --resample_window."""
    args = [*fit_args(tmp_path, 4), "--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.every_n_train_steps",
            "2", "--trainer.callbacks.save_top_k", "-1", "--trainer.callbacks.filename", "{step}"]
    assert main(args) == 0
    (saved_config,) = tmp_path.glob("lightning_logs/version_0/config.yaml")
    assert "ModelCheckpoint" in saved_config.read_text()
    checkpoints = sorted(p.name for p in tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert checkpoints == ["step=2.ckpt", "step=4.ckpt"]
    out = tmp_path / "samples.npy"
    assert main(["sample", "--config", str(saved_config), "--ckpt_path",
                 str(tmp_path / "lightning_logs/version_0/checkpoints/step=4.ckpt"), "--num_samples", "8",
                 "--steps", "4", "--solver", "ddim", "--resample", "3", "--output", str(out)]) == 0
    assert json.loads(out.with_suffix(".metrics.json").read_text())["nfe"] == 12
    assert main(["sample", "--config", str(saved_config), "--ckpt_path",
                 str(tmp_path / "lightning_logs/version_0/checkpoints/step=4.ckpt"), "--num_samples", "8",
                 "--steps", "4", "--solver", "ddim", "--resample", "3", "--resample_window", "2", "3",
                 "--output", str(out)]) == 0  # a window no step starts in: no resampling
    assert json.loads(out.with_suffix(".metrics.json").read_text())["nfe"] == 4
