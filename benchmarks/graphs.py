"""Graph benchmarks: the training split itself (train-vs-test), the two classical baselines and, optionally, a
file of model samples, each scored against the test split; published numbers printed alongside.

    python benchmarks/graphs.py --dataset community_small planar [--samples planar=out/planar.pt] [--json FILE]

Every row uses the same split (seeded by ``--seed``) and draws as many graphs as the test split holds. MMD^2
keys are ``{statistic}_mmd2_{protocol}`` (protocols in domains/graphs/mmd.py): GDSS reports the ``emd``
protocol on Community-small and Grid, DiGress / DeFoG the ``tv`` protocol and V.U.N. on Planar and SBM.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from domains.graphs.baselines import ErdosRenyiBaseline, SBMBaseline
from domains.graphs.datasets import load_dataset
from domains.graphs.metrics import DATASET_VALIDITY, graph_metrics
from domains.graphs.readers import read_graphs
from sciddm.io import write_json

# Published MMD^2 (GDSS Table 2, emd protocol) and V.U.N. (DiGress / DeFoG tables); the issue quotes them.
PUBLISHED = {
    "community_small": {"GDSS": {"degree_mmd2_emd": 0.045, "clustering_mmd2_emd": 0.086, "orbit_mmd2_emd": 0.007}},
    "grid": {"GDSS": {"degree_mmd2_emd": 0.111, "clustering_mmd2_emd": 0.005, "orbit_mmd2_emd": 0.070}},
    "planar": {"DiGress": {"vun": 0.75}, "DeFoG": {"vun": 0.995}},
    "sbm": {"DiGress": {"vun": 0.74}, "DeFoG": {"vun": 0.90}},
}
COLUMNS = ["degree_mmd2_emd", "clustering_mmd2_emd", "orbit_mmd2_emd", "spectral_mmd2_emd", "degree_mmd2_tv",
           "clustering_mmd2_tv", "orbit_mmd2_tv", "spectral_mmd2_tv", "mean_ratio", "validity", "vun"]


def run(dataset: str, seed: int, samples: Path | None) -> dict[str, dict]:
    splits = load_dataset(dataset, seed=seed)
    validity = DATASET_VALIDITY.get(dataset, "connected")
    rows = {"train (reference)": splits.train[: len(splits.test)]}
    rows["Erdos-Renyi"] = ErdosRenyiBaseline().fit(splits.train).sample(len(splits.test), seed=seed)
    rows["SBM fit"] = SBMBaseline(seed=seed).fit(splits.train).sample(len(splits.test), seed=seed)
    if samples is not None:
        rows[f"model ({samples.name})"] = read_graphs(samples)
    out = {}
    for name, graphs in rows.items():
        start = time.perf_counter()
        out[name] = graph_metrics(graphs, reference=splits.test, train=splits.train, validity=validity)
        out[name]["eval_seconds"] = time.perf_counter() - start
    return out


def print_table(dataset: str, results: dict[str, dict]) -> None:
    print(f"\n## {dataset}\n")
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, metrics in {**results, **{f"{k} (published)": v for k, v in PUBLISHED.get(dataset, {}).items()}}.items():
        cells = [f"{metrics[c]:.4g}" if c in metrics else "" for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", default=["community_small", "planar"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", nargs="*", default=[], help="DATASET=FILE pairs of model samples")
    parser.add_argument("--json", type=Path, help="also write all numbers to this JSON file")
    args = parser.parse_args()
    samples = dict(item.split("=", 1) for item in args.samples)
    everything = {}
    for dataset in args.dataset:
        everything[dataset] = run(dataset, args.seed, Path(samples[dataset]) if dataset in samples else None)
        print_table(dataset, everything[dataset])
    if args.json:
        write_json(args.json, everything)


if __name__ == "__main__":
    main()
