"""ARS DNA benchmark: masked diffusion trained for a fixed CPU budget against Markov baselines on the same split.

Reports (seeded; every time is *process CPU time* of one torch thread, so other jobs on the machine do not move
the budget):

1. held-out likelihood in bits/base: the diffusion model's NELBO (:func:`sciddm.likelihood.nelbo_bits_per_token`,
   an upper bound of its NLL, Monte Carlo over ``--nelbo-times`` antithetic times, standard error over sequences)
   next to the exact NLL of 3rd/5th-order Markov chains and a per-position independent model (all add-one,
   fitted on the training split, scored on the same held-out sequences);
2. samples (``--samples``, cached masked sampler, ``--steps`` steps): 3-mer and 4-mer Pearson correlation with the
   held-out sequences, mean pairwise identity of samples next to that of held-out data, GC content; the same for
   order-5 Markov samples;
3. the cached masked sampler against plain ancestral sampling at equal steps (``--speed-steps``): CPU seconds,
   network calls, and the speed-up.

Command: ``python -m benchmarks.sequences`` (``--json`` prints one JSON object).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from domains.sequences.baselines import MarkovModel
from domains.sequences.metrics import mean_pairwise_identity, reference_metrics, sequence_metrics
from sciddm.checkpoints import build_cli
from sciddm.likelihood import nelbo_bits_per_token
from sciddm.sampling import Sampler

CONFIG = "configs/sequences/ars_dna.yaml"


def build(args):
    cli = build_cli(["--config", CONFIG, "--trainer.logger", "false", "--trainer.enable_checkpointing", "false",
                     "--data.init_args.max_sequences", str(args.max_sequences),
                     "--data.init_args.seed", str(args.seed), "--seed_everything", str(args.seed)])
    cli.datamodule.setup()
    return cli.model, cli.datamodule


def train(module, datamodule, budget: float) -> dict:
    """AdamW with the config's lr, warm-up and EMA, until ``budget`` CPU seconds are spent."""
    optimizer = torch.optim.AdamW(module.network.parameters(), lr=module.lr, weight_decay=module.weight_decay)
    start, steps, losses = time.process_time(), 0, []
    module.train()
    while time.process_time() - start < budget:
        for batch in datamodule.train_dataloader():
            for group in optimizer.param_groups:
                group["lr"] = module.lr * min(1.0, (steps + 1) / max(module.warmup_steps, 1))
            loss, _ = module.diffusion_loss(module.network, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if module.ema is not None:
                module.ema.update_parameters(module.network)
            steps += 1
            losses.append(loss.item())
            if time.process_time() - start >= budget:
                break
    return {"steps": steps, "cpu_seconds": time.process_time() - start,
            "final_train_loss_bits": float(np.mean(losses[-50:]) / math.log(2)),
            "examples_seen": steps * datamodule.hparams.batch_size}


def held_out_nelbo(module, datamodule, count: int, times: int, seed: int) -> tuple[float, float]:
    test = datamodule.splits["test"]
    generator = torch.Generator().manual_seed(seed)
    bits = []
    for start in range(0, min(count, len(test)), 250):
        rows = list(range(start, min(start + 250, count, len(test))))
        bits.append(nelbo_bits_per_token(module, test.batch(rows), times, generator))
    bits = torch.cat(bits)
    return float(bits.mean()), float(bits.std() / math.sqrt(len(bits)))


def baselines(datamodule, count: int) -> dict[str, float]:
    train, test = datamodule.splits["train"], datamodule.splits["test"]
    held = test.subset(np.arange(min(count, len(test))))
    out = {}
    for order in (3, 5):
        model = MarkovModel(order, train.alphabet.size).fit(train.tokens, train.mask)
        out[f"markov{order}"] = model.bits_per_token(held.tokens, held.mask)
    counts = np.stack([np.bincount(column, minlength=train.alphabet.size) for column in train.tokens.T]) + 1.0
    table = counts / counts.sum(axis=1, keepdims=True)  # [L, K] add-one per-position frequencies
    out["per_position"] = float(-np.log2(table[np.arange(held.tokens.shape[1]), held.tokens]).mean())
    return out


def sample_quality(strings: list[str], reference: list[str], alphabet) -> dict[str, float]:
    metrics = {**sequence_metrics(strings, alphabet), **reference_metrics(strings, reference, alphabet)}
    keys = ("validity", "uniqueness", "mean_pairwise_identity", "gc_content", "kmer3_pearson", "kmer3_js_distance",
            "kmer4_pearson")
    return {k: metrics[k] for k in keys}


def draw_samples(module, datamodule, n: int, solver: str, steps: int, seed: int, batch: int = 250):
    """Samples in batches; returns (strings, CPU seconds, network calls)."""
    sampler = Sampler(steps=steps, categorical_solver=solver)
    strings, calls, start = [], 0, time.process_time()
    for first in range(0, n, batch):
        samples, context, nfe = module.sample_from(datamodule, min(batch, n - first), seed=seed + first,
                                                   sampler=sampler)
        strings += datamodule.sample_strings(samples, context)
        calls += nfe
    return strings, time.process_time() - start, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="training budget in CPU seconds")
    parser.add_argument("--max-sequences", type=int, default=20000)
    parser.add_argument("--held-out", type=int, default=1000, help="test sequences scored")
    parser.add_argument("--nelbo-times", type=int, default=4)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--speed-steps", type=int, nargs="+", default=[150, 500, 1000])
    parser.add_argument("--speed-batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    module, datamodule = build(args)
    alphabet = datamodule.alphabet
    report = {"args": vars(args), "split_sizes": {k: len(v) for k, v in datamodule.splits.items()},
              "parameters": sum(p.numel() for p in module.network.parameters())}
    report["baselines_bits"] = baselines(datamodule, args.held_out)
    report["training"] = train(module, datamodule, args.budget)
    mean, se = held_out_nelbo(module, datamodule, args.held_out, args.nelbo_times, args.seed)
    report["nelbo_bits"] = {"mean": mean, "standard_error": se}

    test = datamodule.splits["test"]
    reference = test.strings()
    strings, seconds, calls = draw_samples(module, datamodule, args.samples, "cached", args.steps, args.seed)
    report["samples_diffusion"] = {**sample_quality(strings, reference, alphabet), "cpu_seconds": seconds,
                                   "network_calls": calls}
    markov = MarkovModel(5, alphabet.size).fit(datamodule.splits["train"].tokens, datamodule.splits["train"].mask)
    markov_strings = [alphabet.decode(row) for row in markov.sample(args.samples, test.tokens.shape[1], args.seed)]
    report["samples_markov5"] = sample_quality(markov_strings, reference, alphabet)
    report["held_out_identity"] = mean_pairwise_identity(reference)

    report["speed"] = []
    for steps in args.speed_steps:
        row = {"steps": steps, "batch": args.speed_batch}
        for solver in ("ancestral", "cached"):
            _, seconds, calls = draw_samples(module, datamodule, args.speed_batch, solver, steps, args.seed)
            row[solver] = {"cpu_seconds": seconds, "network_calls": calls}
        row["speedup"] = row["ancestral"]["cpu_seconds"] / row["cached"]["cpu_seconds"]
        report["speed"].append(row)
    print(json.dumps(report, indent=2) if args.json else format_report(report))


def format_report(r: dict) -> str:
    b, n, t = r["baselines_bits"], r["nelbo_bits"], r["training"]
    lines = [f"split {r['split_sizes']}, network parameters {r['parameters']:,}",
             f"training: {t['steps']} steps ({t['examples_seen']:,} sequences) in {t['cpu_seconds']:.0f} CPU s",
             "", "| model (held-out, bits/base) | value |", "|---|---|",
             f"| diffusion NELBO (upper bound) | {n['mean']:.4f} +- {n['standard_error']:.4f} |",
             f"| Markov order 5 (exact NLL) | {b['markov5']:.4f} |",
             f"| Markov order 3 (exact NLL) | {b['markov3']:.4f} |",
             f"| per-position independent (exact NLL) | {b['per_position']:.4f} |", "",
             "| samples | 3-mer r | 3-mer JS | 4-mer r | identity | GC | uniqueness |", "|---|---|---|---|---|---|---|"]
    for name in ("samples_diffusion", "samples_markov5"):
        s = r[name]
        lines.append(f"| {name[8:]} | {s['kmer3_pearson']:.4f} | {s['kmer3_js_distance']:.4f} | "
                     f"{s['kmer4_pearson']:.4f} | {s['mean_pairwise_identity']:.3f} | {s['gc_content']:.3f} | "
                     f"{s['uniqueness']:.3f} |")
    lines += [f"| held-out data | | | | {r['held_out_identity']:.3f} | | |", "",
              "| steps | batch | ancestral CPU s (calls) | cached CPU s (calls) | speed-up |", "|---|---|---|---|---|"]
    for row in r["speed"]:
        a, c = row["ancestral"], row["cached"]
        lines.append(f"| {row['steps']} | {row['batch']} | {a['cpu_seconds']:.2f} ({a['network_calls']}) | "
                     f"{c['cpu_seconds']:.2f} ({c['network_calls']}) | {row['speedup']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
