"""Point-cloud benchmarks on the procedural shape families: metric speed, EMD approximation error, baselines.

    python benchmarks/pointclouds.py speed [--clouds 100 --points 2048]
    python benchmarks/pointclouds.py emd [--pairs 4 --points 2048]
    python benchmarks/pointclouds.py baselines [--per-family 32 --points 2048] [--samples model=FILE.npy]
    (add --json FILE to any of them)

* speed: wall time of the all-pairs Chamfer matrix between two sets of ``--clouds`` clouds (k-d trees, all cores).
* emd: exact assignment vs Sinkhorn on torus/superquadric pairs: relative excess of Sinkhorn and time per pair.
* baselines: 1-NNA, COV and MMD (Chamfer) against a held-out reference set drawn from the same families (seed
  1000) of: a fresh draw of the true distribution (the ideal: 1-NNA ~ 0.5), the Gaussian fit, the jitter
  memoriser (sigma 0.02) and any ``--samples`` file. Training and reference sets are normalised to the unit
  sphere per shape, and so are all samples, before the metrics.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from domains.pointclouds.baselines import GaussianBaseline, JitterBaseline
from domains.pointclouds.chamfer import pairwise_chamfer
from domains.pointclouds.data import ProceduralShapes
from domains.pointclouds.emd import emd_exact, emd_sinkhorn
from domains.pointclouds.io import read_point_set
from domains.pointclouds.metrics import set_metrics
from domains.pointclouds.normalize import normalize
from domains.pointclouds.shapes import generate_family
from sciddm.io import write_json


def procedural(per_family: int, points: int, seed: int) -> np.ndarray:
    return normalize(ProceduralShapes(count_per_family=per_family, n_points=points, seed=seed).load().points,
                     "unit_sphere")  # fmt: skip


def speed(clouds: int, points: int) -> dict:
    per_family = -(-clouds // 3)
    samples, references = procedural(per_family, points, 0)[:clouds], procedural(per_family, points, 500)[:clouds]
    start = time.perf_counter()
    matrix = pairwise_chamfer(samples, references)
    seconds = time.perf_counter() - start
    print(f"pairwise Chamfer {clouds}x{clouds} clouds of {points} points: {seconds:.1f} s "
          f"({os.cpu_count()} cores visible), mean CD {matrix.mean():.4f}")  # fmt: skip
    return {"clouds": clouds, "points": points, "seconds": seconds, "cores": os.cpu_count()}


def emd(pairs: int, points: int) -> dict:
    x = normalize(generate_family("torus", pairs, points, 0)[0], "unit_sphere")
    y = normalize(generate_family("superquadric", pairs, points, 1)[0], "unit_sphere")
    start = time.perf_counter()
    exact = np.array([emd_exact(a, b) for a, b in zip(x, y, strict=True)])
    exact_seconds = (time.perf_counter() - start) / pairs
    start = time.perf_counter()
    approx = emd_sinkhorn(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)).double().numpy()
    sinkhorn_seconds = (time.perf_counter() - start) / pairs
    excess = approx / exact - 1
    print(f"EMD at {points} points over {pairs} pairs: exact {exact_seconds:.2f} s/pair, Sinkhorn "
          f"{sinkhorn_seconds:.2f} s/pair (torch threads {torch.get_num_threads()}); Sinkhorn excess "
          f"min {excess.min():+.2%} mean {excess.mean():+.2%} max {excess.max():+.2%}")  # fmt: skip
    return {"points": points, "pairs": pairs, "exact_s_per_pair": exact_seconds,
            "sinkhorn_s_per_pair": sinkhorn_seconds, "excess_min": excess.min(), "excess_mean": excess.mean(),
            "excess_max": excess.max()}  # fmt: skip


def baselines(per_family: int, points: int, extra: dict[str, Path]) -> dict:
    train, reference = procedural(per_family, points, 0), procedural(per_family, points, 1000)
    count = len(reference)
    rows = {
        "true distribution (fresh draw)": procedural(per_family, points, 2000),
        "Gaussian fit": GaussianBaseline().fit(train).sample(count, points, seed=3),
        "jitter memoriser (sigma 0.02)": JitterBaseline(0.02).fit(train).sample(count, points, seed=3),
    }
    rows.update({name: read_point_set(path)[:count] for name, path in extra.items()})
    results = {}
    print(f"| samples ({count} vs {count} reference, {points} points) | 1-NNA-CD | COV-CD | MMD-CD | seconds |")
    print("|---|---|---|---|---|")
    for name, samples in rows.items():
        start = time.perf_counter()
        metrics = set_metrics(normalize(samples, "unit_sphere"), reference)
        seconds = time.perf_counter() - start
        results[name] = {**metrics, "seconds": seconds}
        print(f"| {name} | {metrics['one_nna_cd']:.3f} | {metrics['cov_cd']:.3f} | {metrics['mmd_cd']:.5f} | "
              f"{seconds:.0f} |")  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["speed", "emd", "baselines"])
    parser.add_argument("--clouds", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--per-family", type=int, default=32)
    parser.add_argument("--points", type=int, default=2048)
    parser.add_argument("--samples", nargs="*", default=[], help="NAME=FILE of model samples [M, N, 3]")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.task == "speed":
        result = speed(args.clouds, args.points)
    elif args.task == "emd":
        result = emd(args.pairs, args.points)
    else:
        result = baselines(args.per_family, args.points, dict(item.split("=", 1) for item in args.samples))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
