r"""Reward-guided DNA design on the yeast ARS1 library, following the protocol of DRAKES (Wang et al. 2024).

Protocol (everything seeded; CPU budgets are *process CPU seconds* of one torch thread):

1. **Oracles.** The 603,569 ARS sequences (``domains.sequences.data.load_ars``, label = log2 enrichment) are split
   into two halves by a seeded permutation (DRAKES splits by chromosome; every ARS variant comes from the same
   locus, so a random split is the only one available). A :class:`~domains.sequences.oracles.SequenceCNN` is fitted
   on ``--oracle-train`` sequences of each half: the *reward oracle* (used by guidance and fine-tuning) and the
   *evaluation oracle* (used only to score designs). Their Pearson r on held-out sequences is reported.
2. **Pretrained model.** ``configs/sequences/ars_dna.yaml`` (masked diffusion, small transformer) trained for
   ``--pretrain-budget`` CPU seconds (the training loop of ``benchmarks/sequences.py``); cached in
   ``runs/dna_design/pretrained.ckpt``.
3. **Methods** (``--samples`` designs each, ``--steps`` ancestral steps): pretrained; best-of-N at N = P and at the
   reward-evaluation budget of SVDD; CG (the first-order categorical gradient tilt, scale w); SMC and TDS (P
   particles, temperature alpha); SVDD (P candidates, greedy); DRAKES with and without KL
   (``configs/sequences/ars_dna_drakes.yaml``, ``--finetune-steps`` steps). CFG needs a label-conditioned model and
   is not run (see docs/guidance.md).
4. **Metrics** per design set: median evaluation-oracle activity (and reward-oracle activity); 3-mer Pearson
   correlation with the top 0.1% most active real sequences (by label, over the whole library);
   NELBO in bits/base under the *pretrained* model (median; lower = more likely; ``sciddm.likelihood``, 8 antithetic
   times); diversity = 1 - mean pairwise identity; cost per design (network and reward evaluations).
5. **Motif reward.** The JASPAR ABF1 matrix (ABF1 binds the B3 element of ARS1) as the reward: motif score
   rising while the NELBO stays near the pretrained model's.

Command: ``python -m benchmarks.dna_design`` (``--json`` prints everything as JSON; results are also written to
``runs/dna_design/results.json``). The reward factories below are usable by ``sciddm guide``, e.g.
``--reward benchmarks.dna_design:oracle_reward --reward_args '{"path": "runs/dna_design/oracle_reward.pt"}'``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from domains.sequences.oracles import SequenceCNN, fit_oracle
from domains.sequences.rewards import MotifReward
from sciddm.errors import DataError
from sciddm.finetune import load_pretrained_network
from sciddm.io import write_json
from sciddm.rewards import FunctionReward, ModelReward, Reward

ROOT = Path("runs/dna_design")
CONFIG = "configs/sequences/ars_dna.yaml"
DRAKES_CONFIG = "configs/sequences/ars_dna_drakes.yaml"
ORACLE_SHAPE = {"vocab_size": 4, "channels": 64, "kernel_size": 9, "depth": 3}


# ---------------------------------------------------------------------------------------------- reward factories
def load_oracle(path: str | Path) -> SequenceCNN:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "oracle weights not found (run python -m benchmarks.dna_design first)")
    model = SequenceCNN(**ORACLE_SHAPE)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def oracle_reward(path: str = str(ROOT / "oracle_reward.pt"), name: str = "ars_activity") -> Reward:
    """The ARS activity oracle (predicted log2 enrichment) on field ``seq``: tokens or probabilities [B, 150, 4]."""
    return ModelReward(load_oracle(path), "seq", name=name)


def motif_reward(query: str = "ABF1") -> Reward:
    """Best both-strand JASPAR log-odds window score of ``query`` (expected score on probabilities)."""
    motif = MotifReward.from_jaspar(query)
    return FunctionReward(lambda samples, context: motif(samples["seq"]), differentiable=True, name=f"motif_{query}")


# ---------------------------------------------------------------------------------------------- steps
def train_oracles(data, args) -> dict:
    """Fit the reward and evaluation oracles on disjoint halves; save them; report held-out Pearson r."""
    order = np.random.default_rng(args.seed).permutation(len(data))
    halves = (order[: len(order) // 2], order[len(order) // 2:])
    test_size = 5000
    report = {}
    tests = [half[args.oracle_train: args.oracle_train + test_size] for half in halves]
    oracles = []
    for name, half in zip(("reward", "eval"), halves, strict=True):
        path = Path(args.root) / f"oracle_{name}.pt"
        model = SequenceCNN(**ORACLE_SHAPE)
        start = time.process_time()
        if path.is_file():
            model.load_state_dict(torch.load(path, weights_only=True))
        else:
            rows = half[: args.oracle_train]
            fit_oracle(model, data.tokens[rows], data.labels[rows], epochs=args.oracle_epochs, seed=args.seed)
            torch.save(model.state_dict(), path)
        report[f"{name}_oracle_cpu_seconds"] = time.process_time() - start
        oracles.append(model.eval())
    with torch.no_grad():
        for (name, model) in zip(("reward", "eval"), oracles, strict=True):
            for split, rows in zip(("own_half", "other_half"), tests if name == "reward" else tests[::-1],
                                   strict=True):
                prediction = model(torch.as_tensor(data.tokens[rows], dtype=torch.long)).numpy()
                report[f"{name}_oracle_pearson_{split}"] = float(np.corrcoef(prediction, data.labels[rows])[0, 1])
    return report


def pretrained_checkpoint(args) -> tuple[Path, dict]:
    from benchmarks.sequences import train
    from sciddm.checkpoints import build_cli

    path = Path(args.root) / "pretrained.ckpt"
    if path.is_file():
        return path, {"reused": str(path)}
    cli = build_cli(["--config", CONFIG, "--trainer.logger", "false", "--trainer.enable_checkpointing", "false",
                     "--seed_everything", str(args.seed)])
    cli.datamodule.setup()
    stats = train(cli.model, cli.datamodule, args.pretrain_budget)
    torch.save({"state_dict": cli.model.state_dict()}, path)
    return path, stats


def finetune(kl_weight: float, args, datamodule) -> tuple[Path, dict]:
    """DRAKES from the pretrained checkpoint with the DRAKES config; returns the fine-tuned checkpoint."""
    from sciddm.checkpoints import build_cli

    root = Path(args.root)
    path = root / f"drakes_kl{kl_weight:g}.ckpt"
    if path.is_file():
        return path, {"reused": str(path)}
    cli = build_cli(["--config", DRAKES_CONFIG, "--trainer.logger", "false", "--trainer.enable_checkpointing",
                     "false", "--trainer.enable_progress_bar", "false", "--trainer.max_steps",
                     str(args.finetune_steps), "--model.init_args.kl_weight", str(kl_weight),
                     "--model.init_args.pretrained", str(root / "pretrained.ckpt"),
                     "--model.init_args.reward_args", json.dumps({"path": str(root / "oracle_reward.pt")}),
                     "--seed_everything", str(args.seed)])
    cli.datamodule.splits = datamodule.splits  # same data, already loaded
    start = time.process_time()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    torch.save({"state_dict": cli.model.state_dict()}, path)
    metrics = {k: float(v) for k, v in cli.trainer.callback_metrics.items()}
    return path, {"cpu_seconds": time.process_time() - start, "steps": args.finetune_steps, **metrics}


# ---------------------------------------------------------------------------------------------- evaluation
class Scorer:
    """Metrics of a design set (module docstring, step 4)."""

    def __init__(self, pretrained, eval_oracle, reward_oracle, top_sequences: list[str], nelbo_times: int, seed: int):
        from domains.sequences.metrics import kmer_counts

        self.pretrained, self.eval_oracle, self.reward_oracle = pretrained, eval_oracle, reward_oracle
        self.top_kmers = kmer_counts(top_sequences, 3, "ACGT")
        self.nelbo_times, self.seed = nelbo_times, seed

    def __call__(self, tokens: torch.Tensor, extra: dict | None = None) -> dict:
        from domains.sequences.metrics import kmer_counts, mean_pairwise_identity, pearson
        from sciddm.likelihood import nelbo_bits_per_token

        strings = ["".join("ACGT"[i] for i in row) for row in tokens.tolist()]
        mask = torch.ones_like(tokens, dtype=torch.bool)
        with torch.no_grad():
            activity = self.eval_oracle(tokens).numpy()
            reward = self.reward_oracle(tokens).numpy()
        nelbo = nelbo_bits_per_token(self.pretrained, ({"seq": tokens}, {"mask": mask}), self.nelbo_times,
                                     torch.Generator().manual_seed(self.seed)).numpy()
        return {"eval_activity_median": float(np.median(activity)), "reward_activity_median": float(np.median(reward)),
                "kmer3_pearson_top": pearson(kmer_counts(strings, 3, "ACGT"), self.top_kmers),
                "nelbo_bits_median": float(np.median(nelbo)), "diversity": 1.0 - mean_pairwise_identity(strings),
                "eval_activity": activity.tolist(), **(extra or {})}


def designs(module, datamodule, reward, settings, args, seed: int, count: int | None = None
            ) -> tuple[torch.Tensor, dict]:
    from sciddm.design import guided_batch
    from sciddm.sampling import Sampler

    generator = torch.Generator().manual_seed(seed)
    template, context = datamodule.sample_template(count or args.samples, generator)
    sampler = Sampler(steps=args.steps, categorical_solver="ancestral")
    start = time.process_time()
    result = guided_batch(module, template, context, reward, settings, sampler, generator)
    return result.samples["seq"].cpu(), {"network_evals": result.network_evaluations,
                                         "reward_evals": result.reward_evaluations,
                                         "cpu_seconds": time.process_time() - start}


def run(args) -> dict:
    from domains.sequences.data import load_ars
    from sciddm.checkpoints import load_model
    from sciddm.design import GuideSettings

    torch.set_num_threads(1)
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    data = load_ars()
    report: dict = {"settings": vars(args)}
    report["oracles"] = train_oracles(data, args)
    ckpt, report["pretraining"] = pretrained_checkpoint(args)
    module, datamodule, _ = load_model(CONFIG, ckpt)
    datamodule.setup()
    reward = oracle_reward(str(root / "oracle_reward.pt"))
    eval_oracle = load_oracle(root / "oracle_eval.pt")
    top = np.argsort(data.labels)[-max(1, len(data) // 1000):]
    scorer = Scorer(module, eval_oracle, reward.model, data.subset(top).strings(), args.nelbo_times, args.seed)
    p, alpha = args.particles, args.temperature
    svdd_reward_evals = args.steps * p + 1
    plans = [("pretrained", GuideSettings("none")), (f"best-of-{p}", GuideSettings("best_of_n", p)),
             (f"best-of-{svdd_reward_evals}", GuideSettings("best_of_n", svdd_reward_evals)),
             (f"CG (w={args.cg_scale:g})", GuideSettings("gradient", scale=args.cg_scale)),
             (f"SMC (P={p}, alpha={alpha:g})", GuideSettings("smc", p, alpha)),
             (f"TDS (P={p}, alpha={alpha:g})", GuideSettings("tds", p, alpha)),
             (f"SVDD (K={p}, greedy)", GuideSettings("svdd", p, 0.0))]
    rows = {}
    for name, settings in plans:
        count = args.pretrained_samples if name == "pretrained" else args.samples
        tokens, cost = designs(module, datamodule, reward, settings, args, args.seed + 1, count)
        rows[name] = scorer(tokens, cost)
        print(f"{name}: {format_row(rows[name])}", flush=True)
    report["finetuning"] = {}
    for kl_weight in (0.0, *args.kl_weights):
        path, report["finetuning"][f"kl={kl_weight:g}"] = finetune(kl_weight, args, datamodule)
        tuned = copy.deepcopy(module)
        load_pretrained_network(tuned.sampling_network, path)
        tokens, cost = designs(tuned, datamodule, reward, GuideSettings("none"), args, args.seed + 1)
        name = "DRAKES without KL" if kl_weight == 0 else f"DRAKES (KL weight {kl_weight:g})"
        rows[name] = scorer(tokens, cost)
        print(f"{name}: {format_row(rows[name])}", flush=True)
    report["rows"] = rows
    report["pretrained_eval_activity_p95"] = float(np.percentile(rows["pretrained"]["eval_activity"], 95))
    report["motif"] = motif_rows(module, datamodule, args)
    return report


def motif_rows(module, datamodule, args) -> dict:
    from sciddm.design import GuideSettings
    from sciddm.likelihood import nelbo_bits_per_token

    reward = motif_reward(args.motif)
    out = {}
    p = args.particles
    for name, settings in (("pretrained", GuideSettings("none")), (f"best-of-{p}", GuideSettings("best_of_n", p)),
                           (f"CG (w={args.motif_scale:g})", GuideSettings("gradient", scale=args.motif_scale)),
                           (f"SMC (P={p}, alpha=0.5)", GuideSettings("smc", p, 0.5)),
                           (f"SVDD (K={p}, greedy)", GuideSettings("svdd", p, 0.0))):
        tokens, cost = designs(module, datamodule, reward, settings, args, args.seed + 2)
        mask = torch.ones_like(tokens, dtype=torch.bool)
        with torch.no_grad():
            score = reward({"seq": tokens}, {}).numpy()
        nelbo = nelbo_bits_per_token(module, ({"seq": tokens}, {"mask": mask}), args.nelbo_times,
                                     torch.Generator().manual_seed(args.seed)).numpy()
        out[name] = {"motif_score_median": float(np.median(score)), "nelbo_bits_median": float(np.median(nelbo)),
                     **cost}
        print(f"motif {name}: {out[name]}", flush=True)
    return out


def format_row(row: dict) -> str:
    keys = ("eval_activity_median", "reward_activity_median", "kmer3_pearson_top", "nelbo_bits_median", "diversity",
            "network_evals", "reward_evals", "cpu_seconds")
    return ", ".join(f"{k}={row[k]:.3g}" for k in keys if k in row)


def markdown(report: dict) -> str:
    lines = ["| method | eval-oracle activity (median) | reward-oracle activity (median) | 3-mer r vs top 0.1% | "
             "NELBO bits/base (median) | diversity | network evals / design | reward evals / design |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | {row['eval_activity_median']:.2f} | {row['reward_activity_median']:.2f} | "
                     f"{row['kmer3_pearson_top']:.3f} | {row['nelbo_bits_median']:.3f} | {row['diversity']:.3f} | "
                     f"{row['network_evals']:.0f} | {row['reward_evals']:.0f} |")
    lines += ["", "| motif-guided method | motif score (median) | NELBO bits/base (median) | network evals | "
              "reward evals |", "|---|---|---|---|---|"]
    for name, row in report["motif"].items():
        lines.append(f"| {name} | {row['motif_score_median']:.2f} | {row['nelbo_bits_median']:.3f} | "
                     f"{row['network_evals']:.0f} | {row['reward_evals']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oracle-train", type=int, default=20000, help="training sequences per oracle")
    parser.add_argument("--oracle-epochs", type=int, default=2)
    parser.add_argument("--pretrain-budget", type=float, default=150.0, help="CPU seconds of pretraining")
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--pretrained-samples", type=int, default=256, help="plain samples for the 95th percentile")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--particles", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--cg-scale", type=float, default=10.0)
    parser.add_argument("--kl-weights", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--finetune-steps", type=int, default=60)
    parser.add_argument("--motif", default="ABF1")
    parser.add_argument("--motif-scale", type=float, default=2.0)
    parser.add_argument("--nelbo-times", type=int, default=8)
    parser.add_argument("--root", default=str(ROOT), help="where oracles, checkpoints and results are cached")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args)
    write_json(Path(args.root) / "results.json", report)
    print(json.dumps(report, indent=2, default=float) if args.json else markdown(report))
    if not math.isfinite(report["pretrained_eval_activity_p95"]):
        raise SystemExit("non-finite results")


if __name__ == "__main__":
    main()
