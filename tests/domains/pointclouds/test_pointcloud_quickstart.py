"""The quickstart config trains, samples, evaluates and completes partial clouds through the CLIs (tiny sizes)."""

import json
from pathlib import Path

import numpy as np

from domains.pointclouds import generation
from domains.pointclouds.io import read_point_set, write_npy
from sciddm.cli import main

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "pointclouds" / "quickstart.yaml"


def test_quickstart_fits_samples_evaluates_and_completes(tmp_path, capsys):
    tiny = ["--data.init_args.source.init_args.count_per_family", "4", "--data.init_args.source.init_args.n_points",
            "32", "--data.init_args.batch_size", "4", "--data.init_args.val_fraction", "0.25"]  # fmt: skip
    trainer = ["--trainer.max_steps", "2", "--trainer.val_check_interval", "2", "--trainer.limit_val_batches", "1",
               "--model.init_args.val_num_samples", "3", "--trainer.enable_progress_bar", "false",
               "--trainer.default_root_dir", str(tmp_path)]  # fmt: skip
    assert main(["fit", "--config", str(CONFIG), *tiny, *trainer]) == 0
    logged = (next(tmp_path.rglob("metrics.csv"))).read_text()
    assert "val/one_nna_cd" in logged  # validation scored samples with this domain's metrics
    checkpoint = next(tmp_path.rglob("*.ckpt"))
    output = tmp_path / "samples" / "s.npy"
    run_config = next(tmp_path.rglob("config.yaml"))  # saved by fit, with the command-line overrides
    assert main(["sample", "--config", str(run_config), "--ckpt_path", str(checkpoint), "--num_samples", "3",
                 "--steps", "2", "--output", str(output)]) == 0  # fmt: skip
    samples = read_point_set(output)
    assert samples.shape == (3, 32, 3) and np.isfinite(samples).all()  # the trained run's 32 points
    capsys.readouterr()
    assert main(["evaluate", "pointclouds", str(output), "--reference", str(output)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["mmd_cd"] == 0.0 and metrics["cov_cd"] == 1.0 and metrics["n_clouds"] == 3

    # completion of the first 8 points of each sample with the trained model: known points kept exactly
    partial = tmp_path / "partial.npy"
    write_npy(partial, samples[:, :8])
    completed_path = tmp_path / "completed.npy"
    common = ["--config", str(run_config), "--ckpt_path", str(checkpoint), "--n_points", "32", "--steps", "3"]
    assert generation.main([*common, "--partial", str(partial), "--output", str(completed_path), "--label", "1",
                            "--guidance_scale", "2"]) == 0  # fmt: skip
    completed = read_point_set(completed_path)
    assert completed.shape == (3, 32, 3) and np.isfinite(completed).all()
    np.testing.assert_array_equal(completed[:, :8], read_point_set(partial))
    assert completed_path.with_suffix(".png").stat().st_size > 0
    bad = tmp_path / "bad.xyz"
    bad.write_text("0 0 0\n1 nan 0\n")
    capsys.readouterr()
    assert generation.main([*common, "--partial", str(bad), "--output", str(tmp_path / "x.npy")]) == 2
    assert "bad.xyz" in capsys.readouterr().err
