"""The quickstart: train a small model, sample it, and write samples, metrics and pictures.

    python scripts/quickstart.py [--config CONFIG] [--output DIR] [--num_samples N]

Runs in minutes on a 2-core CPU. Writes, under ``--output``: the training run (checkpoints, config, metrics
CSV), ``samples.*`` in the domain's format, ``samples.png``, ``samples.metrics.json`` and
``training_curve.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

DEFAULT_CONFIG = "configs/molecules/qm9_quick.yaml"


def plot_training_curve(metrics_csv: Path, output: Path) -> Path:
    """Training and validation loss against step, from Lightning's CSV log."""
    import matplotlib.pyplot as plt

    from sciddm.plotting import save_figure

    series: dict[str, tuple[list[int], list[float]]] = {"train/loss": ([], []), "val/loss": ([], [])}
    with metrics_csv.open() as handle:
        for row in csv.DictReader(handle):
            for key, (steps, values) in series.items():
                if row.get(key):
                    steps.append(int(row["step"]))
                    values.append(float(row[key]))
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, (steps, values) in series.items():
        ax.plot(steps, values, marker="o" if key.startswith("val") else None, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--output", default="outputs/quickstart")
    parser.add_argument("--num_samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sciddm.checkpoints import sample_to_files
    from sciddm.cli import main as sciddm_main
    from sciddm.errors import SciDDMError

    output = Path(args.output)
    run_dir = output / "run"
    code = sciddm_main(["fit", "--config", args.config, "--trainer.default_root_dir", str(run_dir),
                        "--trainer.logger", "pytorch_lightning.loggers.CSVLogger",
                        "--trainer.logger.save_dir", str(run_dir)])
    if code:
        return code
    version = max(run_dir.glob("lightning_logs/version_*"), key=lambda p: int(p.name.split("_")[1]))
    checkpoint = max(version.glob("checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime)
    try:
        written = sample_to_files(args.config, checkpoint, args.num_samples, output / "samples",
                                  seed=args.seed)
    except SciDDMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written["training_curve"] = plot_training_curve(version / "metrics.csv", output / "training_curve.png")
    print(json.dumps(json.loads(Path(written["metrics"]).read_text()), indent=2))
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
