"""Seismic trace reconstruction: a diffusion model trained for a fixed step budget vs classical interpolation.

    python benchmarks/seismic.py [--config CONFIG] [--train_steps 1000] [--checkpoint_every 250] [--volumes 4]
                                 [--steps 10] [--ensemble 4] [--ckpt_path CKPT] [--out runs/seismic_benchmark]
                                 [--init_ckpt CKPT] [--lr_decay constant|cosine] [--curve_only]
                                 [--adapt_steps N --adapt_lr LR --adapt_hidden F --adapt_batch B --adapt_replay R]
                                 [--adapt_schedule constant|cosine]
                                 [--first_seed 1000]
                                 [--save_reconstructions]
    python benchmarks/seismic.py --average_of RUN [RUN ...] [--average_method g] [--out OUT]

Protocol (docs/seismic.md, "Benchmark"):

* training: ``--config`` (default ``configs/seismic/random_traces.yaml``: residual diffusion around the linear
  interpolation, 3D UNet on 16x16x32 patches of 32^3 synthetic volumes, 50% random missing training traces) for
  ``--train_steps`` AdamW steps on one CPU thread, saving ``OUT/checkpoints/step=N.ckpt`` every
  ``--checkpoint_every`` steps (``--ckpt_path`` skips training and loads a checkpoint written by an earlier run;
  ``--init_ckpt`` starts training from a checkpoint's weights with a fresh optimiser, e.g. a final anneal with
  ``--lr_decay cosine``: learning rate decayed to zero at the last step);
* learning curve: SNR on the random mask of the one-step estimates (d), (e) and (f) of every saved checkpoint
  (``OUT/checkpoints/step=N.ckpt``); ``--curve_only`` scores only these, writes ``OUT/learning_curve.json`` and
  stops (to follow a training run written to ``OUT`` by another process);
* test: ``--volumes`` held-out synthetic volumes 32x32x32 (seeds 1000, 1001, ..., default ``SyntheticConfig``,
  never seen in training, whose seeds come from ``default_rng([0, k])``), each with two masks: 50% random
  missing traces (``random_traces(seed = volume seed)``) and a contiguous gap of 4 crosslines in the middle;
  ``--first_seed 2000`` takes the validation volumes 2000, 2001, ... instead, on which settings are chosen;
* methods: linear interpolation (also averaged over the 8 grid symmetries, as (e) below: the Delaunay
  triangulation of a regular grid breaks ties, so it is not exactly symmetric) and Fourier POCS (100
  iterations); the diffusion model with ``--steps`` DPM-Solver++(2M) steps and (a) replacement of observed
  traces at every step, (a') the mean of an
  ``--ensemble``-member replacement ensemble, (b) DPS guidance (zeta = ``--dps_scale``), (c) no measurement
  consistency (observed traces and mask enter only as network inputs, same sampler) and (d) the network's
  one-step clean estimate from pure noise (one evaluation: its conditional-mean regression output; the
  ``estimate`` reconstruction method, so observed traces are copied) and (e) the
  mean of (d) over the 8 maps of the trace grid's dihedral group (flips and transpose of the inline and
  crossline axes, ``domains.seismic.symmetry``; 8 evaluations) and (f) the mean of (e) and its polarity twin
  ``-(e)(-v)`` (``reconstruct(..., polarity=True)``: amplitudes have no preferred sign; 16 evaluations; linear
  interpolation is odd in the data, so its polarity average is itself); with ``--adapt_steps N`` > 0 also (g),
  (f) after test-time self-supervised adaptation of a copy of the network to each volume's own observed traces
  (``domains.seismic.adaptation``; N Adam steps, random 50% mask only, CPU seconds per volume reported).
  Patches are stitched with a quarter-patch overlap.
* scores: SNR and SSIM on the missing traces (``domains.seismic.metrics``), mean +- std over volumes.

Prints the learning curve and a Markdown table per mask and writes ``results.json`` (with the training CPU
seconds) and slice pictures (volume 0, replacement) into ``--out``; with ``--save_reconstructions`` also every
reconstruction. ``--average_of RUN ...`` scores the equal-weight mean of one method's reconstructions saved by
several runs (e.g. two networks, each adapted to the volume) on the random mask and writes ``OUT/average.json``.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # single-threaded BLAS: the machine is shared

import argparse  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pytorch_lightning.callbacks import ModelCheckpoint  # noqa: E402

from domains.seismic.adaptation import Adaptation, add_adaptation_arguments  # noqa: E402
from domains.seismic.baselines import linear_interpolation, pocs_interpolation  # noqa: E402
from domains.seismic.masks import contiguous_gap, random_traces, volume_mask  # noqa: E402
from domains.seismic.metrics import snr_db, ssim_map  # noqa: E402
from domains.seismic.plots import plot_reconstruction  # noqa: E402
from domains.seismic.reconstruct import reconstruct, replay_data  # noqa: E402
from domains.seismic.symmetry import grid_symmetries, symmetry_average  # noqa: E402
from domains.seismic.synthetic import synthetic_volume  # noqa: E402
from sciddm.checkpoints import build_cli, load_weights  # noqa: E402
from sciddm.io import write_json  # noqa: E402
from sciddm.sampling import Sampler  # noqa: E402

CONFIG = "configs/seismic/random_traces.yaml"
TEST_SHAPE = (32, 32, 32)
FIRST_TEST_SEED = 1000
FIRST_VALIDATION_SEED = 2000
GAP_WIDTH = 4
CURVE_METHODS = ("(d) network one-step estimate", "(e) one-step estimate, mean over 8 grid symmetries",
                 "(f) one-step estimate, mean over 8 grid symmetries and both polarities")
MASKS: dict[str, Callable[[tuple[int, int], int], np.ndarray]] = {
    "random 50%": lambda grid, seed: random_traces(grid, 0.5, seed),
    f"gap of {GAP_WIDTH} crosslines": lambda grid, seed: contiguous_gap(grid, GAP_WIDTH, axis=1),
}


def benchmark_cli(args: argparse.Namespace):
    """The config's model, data and trainer for ``args.train_steps`` steps (no validation, logging or progress
    bar; ``args.lr_decay`` overrides the config's learning-rate decay when given)."""
    decay = [] if args.lr_decay is None else ["--model.init_args.lr_decay", args.lr_decay]
    return build_cli(["--config", args.config, "--trainer.max_steps", str(args.train_steps),
                      "--trainer.max_epochs", "-1", "--trainer.limit_val_batches", "0", "--trainer.logger", "false",
                      "--trainer.enable_checkpointing", "true", "--trainer.enable_progress_bar", "false",
                      "--model.init_args.val_num_samples", "0", *decay])


def trained_model(args: argparse.Namespace):
    """Train ``args.config`` for ``args.train_steps`` optimiser steps (from the weights of ``args.init_ckpt`` when
    given, fresh optimiser), saving the weights every ``args.checkpoint_every`` steps (or load
    ``args.ckpt_path``); return (module, datamodule, steps, CPU s)."""
    cli = benchmark_cli(args)
    if args.ckpt_path is not None:
        steps = int(load_weights(cli.model, args.ckpt_path)["global_step"])
        return cli.model, cli.datamodule, steps, float("nan")
    if args.init_ckpt is not None:
        load_weights(cli.model, args.init_ckpt)
    cli.trainer.callbacks = [c for c in cli.trainer.callbacks if not isinstance(c, ModelCheckpoint)]
    cli.trainer.callbacks.append(ModelCheckpoint(args.out / "checkpoints", filename="{step}", save_top_k=-1,
                                                 every_n_train_steps=args.checkpoint_every))
    start = time.process_time()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    cpu = time.process_time() - start
    print(f"trained {cli.trainer.global_step} steps in {cpu:.0f} CPU s", flush=True)
    cli.trainer.save_checkpoint(args.out / "model.ckpt")
    return cli.model, cli.datamodule, cli.trainer.global_step, cpu


def saved_checkpoints(out: Path) -> list[Path]:
    """``OUT/checkpoints/step=N.ckpt`` in order of N."""
    return sorted((out / "checkpoints").glob("step=*.ckpt"), key=lambda p: int(p.stem[5:]))


def learning_curve(module, datamodule, checkpoints: list[Path], volumes: dict[int, np.ndarray],
                   args: argparse.Namespace) -> dict[int, dict[str, float]]:
    """SNR (dB, mean over volumes, random 50% mask) of the one-step estimates (d), (e), (f) of each saved
    checkpoint, by method name."""
    mask_name = next(iter(MASKS))
    curve = {}
    for path in checkpoints:
        steps = int(load_weights(module, path)["global_step"])
        methods = diffusion_methods(module, datamodule, args)
        curve[steps] = {}
        for name in CURVE_METHODS:
            snr = []
            for seed, volume in volumes.items():
                mask = MASKS[mask_name](volume.shape[:2], seed)
                snr.append(snr_db(methods[name](volume, mask)[0], volume, ~volume_mask(mask, volume.shape)))
            curve[steps][name] = float(np.mean(snr))
        scores = ", ".join(f"{name[:3]} {snr:.2f} dB" for name, snr in curve[steps].items())
        print(f"learning curve: {steps} steps, SNR {scores}", flush=True)
    return curve


def diffusion_methods(module, datamodule, args: argparse.Namespace) -> dict[str, Callable]:
    hp = datamodule.hparams
    sampler = Sampler(**{**vars(module.sampler), "steps": args.steps})

    def run(method: str, steps: Sampler, ensemble: int = 1, **options) -> Callable:
        def call(volume: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int]:
            result = reconstruct(module, volume, mask, hp.patch_shape, method, steps, ensemble,
                                 batch_size=args.batch_size, normalization=hp.normalization,
                                 interpolate=hp.interpolate, seed=args.seed, **options)
            averaged = options.get("symmetries", 1) * (2 if options.get("polarity") else 1)
            return result.mean, result.nfe * ensemble * averaged

        return call

    symmetries = len(grid_symmetries())
    methods = {
        "(a) diffusion + replacement": run("replace", sampler),
        f"(a') replacement, mean of {args.ensemble}": run("replace", sampler, args.ensemble),
        "(b) diffusion + DPS": run("dps", sampler, guidance_scale=args.dps_scale),
        "(c) diffusion, no consistency": run("none", sampler),
        CURVE_METHODS[0]: run("estimate", sampler),
        CURVE_METHODS[1]: run("estimate", sampler, symmetries=symmetries),
        CURVE_METHODS[2]: run("estimate", sampler, symmetries=symmetries, polarity=True),
    }
    if args.adapt_steps:
        methods[adapted_method_name(args)] = run("estimate", sampler, symmetries=symmetries, polarity=True,
                                                 adaptation=Adaptation.from_args(args),
                                                 replay_data=replay_data(datamodule, args.adapt_replay))
    return methods


def adapted_method_name(args: argparse.Namespace) -> str:
    schedule = "" if args.adapt_schedule == "constant" else f" {args.adapt_schedule}"
    return (f"(g) (f) after adaptation to the volume ({args.adapt_steps} steps, lr {args.adapt_lr:g}{schedule}, "
            f"{args.adapt_hidden:g} hidden, {args.adapt_batch} + {args.adapt_replay} replayed per step)")


def classical_methods() -> dict[str, Callable]:
    def linear(volume: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return linear_interpolation(np.where(volume_mask(mask, volume.shape), volume, 0), mask)

    return {"linear interpolation": lambda v, m: (linear(v, m), 0),
            "linear, mean over 8 grid symmetries": lambda v, m: (symmetry_average(linear, v, m), 0),
            "POCS (100 iterations)": lambda v, m: (pocs_interpolation(v, m), 0)}


def missing_trace_scores(reconstruction: np.ndarray, volume: np.ndarray, missing: np.ndarray) -> dict[str, float]:
    """SNR (dB) and mean SSIM of ``reconstruction`` against ``volume`` on the ``missing`` samples."""
    return {"snr_db_missing": snr_db(reconstruction, volume, missing),
            "ssim_missing": float(ssim_map(reconstruction, volume)[missing].mean())}


def evaluate(methods: dict[str, Callable], volumes: dict[int, np.ndarray], out: Path, only_random: str = "",
             save_reconstructions: bool = False) -> dict:
    """Scores of every method on every (mask, volume) (the method named ``only_random`` on the random mask
    only); pictures of volume 0 with replacement; with ``save_reconstructions`` every reconstruction as
    ``OUT/reconstructions/<mask>/<method label>/volume<seed>.npy``."""
    results: dict = {}
    for mask_name, make in MASKS.items():
        results[mask_name] = {}
        for method_name, method in methods.items():
            if method_name == only_random and mask_name != next(iter(MASKS)):
                continue
            rows = []
            for k, (seed, volume) in enumerate(volumes.items()):
                mask = make(volume.shape[:2], seed)
                missing = ~volume_mask(mask, volume.shape)
                start, start_cpu = time.perf_counter(), time.process_time()
                reconstruction, nfe = method(volume, mask)
                seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
                rows.append({**missing_trace_scores(reconstruction, volume, missing),
                             "seconds": seconds, "cpu_seconds": cpu_seconds, "nfe": nfe})
                if save_reconstructions:
                    save_reconstruction(out, mask_name, method_name, seed, reconstruction)
                if k == 0 and method_name.startswith("(a)"):
                    name = mask_name.split()[0]
                    plot_reconstruction(out / f"slices_{name}.png", volume, np.where(missing, 0, volume),
                                        reconstruction, mask)
            results[mask_name][method_name] = rows
            snr = [r["snr_db_missing"] for r in rows]
            print(f"{mask_name:>22} | {method_name:<34} | SNR {np.mean(snr):6.2f} +- {np.std(snr):5.2f} dB | "
                  f"{np.mean([r['seconds'] for r in rows]):6.1f} s/volume | per volume "
                  f"{', '.join(f'{x:.2f}' for x in snr)} dB", flush=True)
    return results


def method_label(name: str) -> str:
    """A file-name-safe label: the method's letter for the diffusion rows ('(a\')' -> 'a_prime'), else its name."""
    letter = re.match(r"\(([a-z]'?)\)", name)
    label = letter.group(1).replace("'", "_prime") if letter else name.lower()
    return re.sub(r"[^a-z0-9]+", "_", label).strip("_")


def reconstruction_path(out: Path, mask_name: str, label: str, seed: int) -> Path:
    """Where a run saves the reconstruction of method ``label`` for the volume ``seed`` under ``mask_name``."""
    return out / "reconstructions" / method_label(mask_name) / label / f"volume{seed}.npy"


def save_reconstruction(out: Path, mask_name: str, method_name: str, seed: int, reconstruction: np.ndarray) -> None:
    path = reconstruction_path(out, mask_name, method_label(method_name), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, reconstruction.astype(np.float32))


def saved_reconstruction(out: Path, mask_name: str, label: str, seed: int) -> np.ndarray:
    path = reconstruction_path(out, mask_name, label, seed)
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist: was {out} run with --save_reconstructions, the same "
                         f"--first_seed and --volumes, and does it hold method {label!r}?")
    return np.load(path)


def score_average(outs: list[Path], label: str, volumes: dict[int, np.ndarray], out: Path) -> None:
    """Score, on the random mask, the mean of the reconstructions of method ``label`` saved by several benchmark
    runs (e.g. two networks adapted to the same volumes): an equal-weight ensemble."""
    mask_name = next(iter(MASKS))
    rows = []
    for seed, volume in volumes.items():
        missing = ~volume_mask(MASKS[mask_name](volume.shape[:2], seed), volume.shape)
        mean = np.mean([saved_reconstruction(run, mask_name, label, seed) for run in outs], axis=0)
        rows.append(missing_trace_scores(mean, volume, missing))
    snr = [r["snr_db_missing"] for r in rows]
    print(f"{mask_name} | mean of ({label}) over {', '.join(map(str, outs))} | SNR {np.mean(snr):.2f} +- "
          f"{np.std(snr):.2f} dB | SSIM {np.mean([r['ssim_missing'] for r in rows]):.3f} | per volume "
          f"{' / '.join(f'{x:.2f}' for x in snr)} dB")
    write_json(out / "average.json", {"runs": [str(run) for run in outs], "method": label, "mask": mask_name,
                                      "results": rows})


def table(results: dict) -> str:
    lines = ["| mask | method | SNR missing (dB) | SSIM missing | NFE per patch | s / volume | CPU s / volume |",
             "|---|---|---|---|---|---|---|"]
    for mask_name, methods in results.items():
        for method_name, rows in methods.items():
            snr = np.array([r["snr_db_missing"] for r in rows])
            lines.append(f"| {mask_name} | {method_name} | {snr.mean():.2f} +- {snr.std():.2f} | "
                         f"{np.mean([r['ssim_missing'] for r in rows]):.3f} | {rows[0]['nfe'] or '-'} | "
                         f"{np.mean([r['seconds'] for r in rows]):.1f} | "
                         f"{np.mean([r['cpu_seconds'] for r in rows]):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--train_steps", type=int, default=1000, help="optimiser steps")
    parser.add_argument("--checkpoint_every", type=int, default=250, help="steps between saved checkpoints")
    parser.add_argument("--ckpt_path", default=None, help="skip training; load these weights")
    parser.add_argument("--init_ckpt", default=None, help="train from these weights with a fresh optimiser")
    parser.add_argument("--lr_decay", choices=["constant", "cosine"], default=None,
                        help="override the config's learning-rate decay")
    parser.add_argument("--curve_only", action="store_true",
                        help="only score OUT/checkpoints/step=N.ckpt (one-step estimates (d), (e), (f), random mask)")
    parser.add_argument("--volumes", type=int, default=4)
    parser.add_argument("--first_seed", type=int, default=FIRST_TEST_SEED,
                        help=f"seed of the first volume and its masks ({FIRST_TEST_SEED}: the test volumes; "
                             f"{FIRST_VALIDATION_SEED}: the validation volumes, for choosing settings)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--ensemble", type=int, default=4)
    parser.add_argument("--dps_scale", type=float, default=1.0)
    parser.add_argument("--batch_size", type=int, default=9, help="patches per network call")
    add_adaptation_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save_reconstructions", action="store_true",
                        help="also write every reconstruction to OUT/reconstructions/MASK/METHOD/volumeSEED.npy")
    parser.add_argument("--average_of", nargs="+", type=Path, metavar="RUN",
                        help="score the mean of the --average_method reconstructions saved by these runs and stop")
    parser.add_argument("--average_method", default="g", help="method label to average (default g)")
    parser.add_argument("--out", type=Path, default=Path("runs/seismic_benchmark"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = range(args.first_seed, args.first_seed + args.volumes)
    volumes = {seed: synthetic_volume(TEST_SHAPE, seed) for seed in seeds}
    if args.average_of:
        score_average(args.average_of, method_label(args.average_method), volumes, args.out)
        return
    if args.curve_only:
        cli = benchmark_cli(args)
        curve = learning_curve(cli.model, cli.datamodule, saved_checkpoints(args.out), volumes, args)
        write_json(args.out / "learning_curve.json", {"config": args.config, "volume_seeds": list(seeds),
                                                      "learning_curve": curve})
        return
    module, datamodule, steps, cpu_seconds = trained_model(args)
    curve = learning_curve(module, datamodule, saved_checkpoints(args.out), volumes, args)
    load_weights(module, args.ckpt_path or args.out / "model.ckpt")
    methods = {**classical_methods(), **diffusion_methods(module, datamodule, args)}
    results = evaluate(methods, volumes, args.out, only_random=adapted_method_name(args),
                       save_reconstructions=args.save_reconstructions)
    trained = "loaded" if args.ckpt_path else f"{cpu_seconds:.0f} CPU s"
    print(f"\ntraining steps: {steps} ({trained}), solver {module.sampler.solver}, {args.steps} steps\n")
    print(table(results))
    write_json(args.out / "results.json", {"config": args.config, "volume_seeds": list(seeds),
                                           "adaptation": vars(Adaptation.from_args(args)), "training_steps": steps,
                                           "training_cpu_seconds": cpu_seconds, "init_ckpt": args.init_ckpt,
                                           "lr_decay": args.lr_decay, "steps": args.steps,
                                           "learning_curve": curve, "results": results})


if __name__ == "__main__":
    main()
