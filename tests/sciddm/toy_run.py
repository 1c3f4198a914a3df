"""The toy quickstart config trained a few steps through the CLI: shared by the end-to-end and design tests."""

from __future__ import annotations

from pathlib import Path

from sciddm.cli import main

CONFIG = "configs/toy/quickstart.yaml"


def fit_args(root: Path, steps: int) -> list[str]:
    return ["fit", "--config", CONFIG, "--trainer.max_steps", str(steps), "--trainer.default_root_dir", str(root),
            "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
            "--data.init_args.train_size", "512", "--data.init_args.val_size", "256",
            "--model.init_args.val_num_samples", "64"]


def train_toy(root: Path, steps: int = 4) -> Path:
    """Fit the toy config for ``steps`` steps under ``root``; return its checkpoint."""
    assert main(fit_args(root, steps)) == 0
    (ckpt,) = root.glob("lightning_logs/version_0/checkpoints/*.ckpt")
    return ckpt
