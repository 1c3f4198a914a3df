"""Point-cloud benchmarks on the procedural shape families: metric speed, EMD approximation error, baselines.

    python benchmarks/pointclouds.py speed [--clouds 100 --points 2048 --dense-clouds 20]
    python benchmarks/pointclouds.py emd [--pairs 4 --points 2048]
    python benchmarks/pointclouds.py baselines [--per-family 32 --points 2048] [--samples model=FILE.npy]
    python benchmarks/pointclouds.py model --run RUN_DIR [--checkpoint CKPT --per-family 16 --long-per-family 8]
        [--latent-prior gaussian|mixture|diffusion --prior-option components=4 --seed 0]
    python benchmarks/pointclouds.py priors --run RUN_DIR [--checkpoint CKPT --per-family 32 --seeds 0 1 2 3 4
        --prior mixture:components=auto kernel:bandwidth=auto ... --nfe 50|1000 --train-per-family N
        --code-samplings K --reference-seed 1000 --validation-per-family N]
    python benchmarks/pointclouds.py completion --run RUN_DIR [--per-family 8 --known 128 --upsample-known 64]
    (add --json FILE to any of them; --out DIR for pictures)

* speed: wall and CPU time of the all-pairs Chamfer matrix between two sets of ``--clouds`` clouds: the compiled
  k-d trees of ``domains.pointclouds.chamfer`` (numba; first call on two tiny clouds timed apart: compilation, or
  loading numba's cache) on one thread and on all, the three blocks of the set metrics, scipy's ``cKDTree`` with
  Morton-ordered queries (the previous implementation) on one worker and on all, and the dense blocked torch
  alternative on the first ``--dense-clouds`` of each set; every alternative is checked against the default.
* emd: exact assignment vs Sinkhorn on torus/superquadric pairs: relative excess of Sinkhorn and time per pair.
* baselines: 1-NNA, COV and MMD (Chamfer) against a held-out reference set drawn from the same families (seed
  1000) of: a fresh draw of the true distribution (the ideal: 1-NNA ~ 0.5), the Gaussian fit, the jitter
  memoriser (sigma 0.02) and any ``--samples`` file. Training and reference sets are normalised to the unit
  sphere per shape, and so are all samples, before the metrics.
* model: a trained run (``RUN_DIR`` holds the ``config.yaml`` and checkpoint written by ``sciddm fit`` on
  :class:`ProceduralShapes`) against references drawn like ``baselines`` at the run's point count: samples with
  the references' class labels (``--per-family`` per family) at 50 NFE (``dpmpp_2m``, log-SNR grid), with
  classifier-free guidance w = 2 (2 calls per step), and on the first ``--long-per-family`` per family at
  50 NFE and 1000 NFE (``ddpm``, ancestral, uniform grid, as PVD), next to the Gaussian-fit and jitter
  baselines fitted on the run's training split. A shape-latent run (``shape_context``) draws its latents from
  the prior fitted on its training split (no guidance rows: the latent carries the class). Beside the set
  metrics: each row's mean largest radius before renormalisation and its directed Chamfer distance to the
  nearest reference (``score_rows``); and the decoded latents of the references themselves (an oracle prior: how
  close this decoder comes to each reference; paired with their references, such samples can score 1-NNA < 0.5).
  Writes ``samples_50nfe.png`` to ``--out``. ``--latent-prior`` and ``--prior-option KEY=VALUE ...`` choose the
  latent prior (``domains.pointclouds.latent_priors``; default: the run's data module setting).
* priors: a shape-latent run's latent priors against the memorisers, every row over the same sampling seeds:
  per seed ``s``, each ``--prior`` (``NAME:KEY=VALUE,...``, fitted once on the training latents) draws its
  latents and the point noise with seed ``s``; the jitter memoriser (any class) and the class-matched one with
  seed ``s``; the fresh draw with seed ``2000 + 10 s``; the latent memoriser decodes the encoded latent of a
  training shape of each requested class (no prior). References: ``--per-family`` per family with
  ``--reference-seed`` (1000: the test set; any other: a validation set). Printed per seed (``score_rows``) and
  summarised (mean and std over seeds; each row's 1-NNA minus the memorisers', paired by seed). Each prior's
  held-out log-likelihood on the run's validation split, or on ``--validation-per-family`` fresh shapes (seed
  3000), comes first (no ``--seeds``: only that). ``--train-per-family N`` fits priors and memorisers on ``N``
  shapes per family from the run's generator (the run's shapes first), ``--code-samplings K`` encodes each from
  ``K`` point samplings, codes averaged (``LatentPointDenoiser.encode_samplings``; without ``--train-per-family``:
  the run's training split, as the data module's ``latent_code_samplings``).
* completion: the first ``--per-family`` references per family, cut by a random half-space to ``--known``
  points (completion) or thinned to ``--upsample-known`` random points (upsampling), completed to the full
  point count by replacement at 50 NFE (unconditional: null label; and with the true label), against two
  baselines that also keep the known points: known points resampled with replacement, and known points plus
  points of the training shape nearest to them (directed Chamfer known -> shape). Mean CD and exact EMD to the
  full shape; with ``--completion-run`` also a conditional completion model (trained with ``known_points``).
  Writes ``completion.png`` (rows: partial, completions, full shape).
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial
from pathlib import Path

import numba
import numpy as np
import torch
import yaml
from scipy.spatial import cKDTree

from domains.pointclouds.baselines import GaussianBaseline, JitterBaseline
from domains.pointclouds.chamfer import directed_chamfer, pairwise_chamfer
from domains.pointclouds.data import ProceduralShapes
from domains.pointclouds.emd import emd_exact, emd_sinkhorn
from domains.pointclouds.generation import complete, completion_scores, sample_classes
from domains.pointclouds.io import read_point_set
from domains.pointclouds.latent import LATENT_KEY, LatentSampling
from domains.pointclouds.latent_priors import make_prior
from domains.pointclouds.metrics import set_metrics
from domains.pointclouds.normalize import normalize
from domains.pointclouds.partial import half_space_cut, random_directions, random_subset
from domains.pointclouds.plots import plot_cloud_grid
from domains.pointclouds.shapes import generate_family
from sciddm.checkpoints import load_model
from sciddm.errors import ConfigError
from sciddm.io import write_json
from sciddm.sampling import Sampler

FAST = Sampler(solver="dpmpp_2m", steps=50, grid="log_snr")
SLOW = Sampler(solver="ddpm", steps=1000, grid="uniform")


def procedural(per_family: int, points: int, seed: int) -> np.ndarray:
    return normalize(ProceduralShapes(count_per_family=per_family, n_points=points, seed=seed).load().points,
                     "unit_sphere")  # fmt: skip


def morton_order(points: np.ndarray, bits: int = 10) -> np.ndarray:
    """Indices sorting ``points`` [P, 3] along the Z-order curve of a ``2^bits`` grid over their bounding box:
    the code interleaves the bits of the three grid coordinates (x in bit 0, y in bit 1, z in bit 2, ...)."""
    low, extent = points.min(axis=0), np.ptp(points, axis=0).max()
    grid = ((points - low) * ((2**bits - 1) / extent if extent > 0 else 0.0)).astype(np.int64)
    code = np.zeros(len(points), dtype=np.int64)
    for bit in range(bits):
        for axis in range(3):
            code |= ((grid[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind="stable")


def scipy_pairwise_chamfer(x: np.ndarray, y: np.ndarray, workers: int = -1) -> np.ndarray:
    """The previous implementation, kept here for the comparison: one scipy ``cKDTree`` (leaves of 32) per target
    cloud answers the queries of all clouds of the other set at once, taken in Morton order (8-20 % faster than
    unsorted); ``workers`` goes to ``cKDTree.query``."""

    def directed(queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
        flat = queries.reshape(-1, 3)
        order = morton_order(flat)
        cloud_of_query, sorted_queries = order // queries.shape[1], flat[order]
        result = np.empty((len(queries), len(targets)))
        for b, target in enumerate(targets):
            distance, _ = cKDTree(target, leafsize=32, balanced_tree=False, compact_nodes=False).query(
                sorted_queries, k=1, workers=workers)  # fmt: skip
            result[:, b] = np.bincount(cloud_of_query, np.square(distance), minlength=len(queries)) / queries.shape[1]
        return result

    return directed(x, y) + directed(y, x).T


def dense_pairwise_chamfer(x: np.ndarray, y: np.ndarray, columns: int = 128) -> np.ndarray:
    """The alternative to the k-d trees, kept here for the comparison: float32 ``|x|^2 + |y|^2 - 2 x.y`` from one
    ``[5]``-dimensional product per pair (``[x, |x|^2, 1] . [-2y, 1, |y|^2]``), in blocks of ``columns`` target
    points (1 MB at 2048 query points: stays in cache), both directions' minima from each block."""
    left = torch.tensor(x, dtype=torch.float32)
    right = torch.tensor(y, dtype=torch.float32)
    left = torch.cat([left, left.square().sum(-1, keepdim=True), torch.ones_like(left[..., :1])], -1)
    right = torch.cat([-2 * right, torch.ones_like(right[..., :1]), right.square().sum(-1, keepdim=True)], -1)
    result = np.empty((len(x), len(y)))
    block = torch.empty(x.shape[1], columns)
    for s, a in enumerate(left):
        for r, b in enumerate(right):
            row_min, column_min = torch.full((len(a),), torch.inf), torch.empty(len(b))
            for start in range(0, len(b), columns):
                part = torch.mm(a, b[start : start + columns].T, out=block[:, : min(columns, len(b) - start)])
                torch.minimum(row_min, part.amin(1), out=row_min)
                torch.amin(part, 0, out=column_min[start : start + columns])
            result[s, r] = float(row_min.clamp_min(0).mean() + column_min.clamp_min(0).mean())
    return result


def timed(function, *args) -> tuple[np.ndarray, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def speed(clouds: int, points: int, dense_clouds: int) -> dict:
    """Wall and CPU seconds of the all-pairs Chamfer matrix between two sets (module doc); CPU seconds are the
    process's, summed over its threads."""
    per_family = -(-clouds // 3)
    samples, references = procedural(per_family, points, 0)[:clouds], procedural(per_family, points, 500)[:clouds]
    tiny = samples[:2, :8]
    _, wall_first, cpu_first = timed(pairwise_chamfer, tiny, tiny[::-1])
    runs = {}
    for name, function in {"numba k-d trees, 1 thread": partial(pairwise_chamfer, workers=1),
                           f"numba k-d trees, {numba.config.NUMBA_NUM_THREADS} threads": pairwise_chamfer,
                           "scipy cKDTree (Morton), 1 worker": partial(scipy_pairwise_chamfer, workers=1),
                           f"scipy cKDTree (Morton), {os.cpu_count()} workers": scipy_pairwise_chamfer}.items():
        matrix, wall, cpu = timed(function, samples, references)
        runs[name] = {"wall_s": wall, "cpu_s": cpu, "cpu_ms_per_pair": 1e3 * cpu / clouds**2, "matrix": matrix}
    exact = runs["numba k-d trees, 1 thread"]["matrix"]
    _, wall_metrics, cpu_metrics = timed(set_metrics, samples, references)
    pick = slice(0, dense_clouds)
    dense, _, cpu_dense = timed(dense_pairwise_chamfer, samples[pick], references[pick])
    print(f"pairwise Chamfer {clouds}x{clouds} clouds of {points} points (mean CD {exact.mean():.4f}); first numba "
          f"call (compile or cache load) {wall_first:.1f} s wall, {cpu_first:.1f} s CPU")  # fmt: skip
    print("| method | wall s | CPU s | CPU ms per pair | max relative difference to numba, 1 thread |")
    print("|---|---|---|---|---|")
    for name, run in runs.items():
        run["max_relative_difference"] = float(np.abs(run.pop("matrix") / exact - 1).max())
        print(f"| {name} | {run['wall_s']:.1f} | {run['cpu_s']:.1f} | {run['cpu_ms_per_pair']:.2f} | "
              f"{run['max_relative_difference']:.1e} |")  # fmt: skip
    dense_error = float(np.abs(dense / exact[pick, pick] - 1).max())
    print(f"set metrics (S-R, S-S, R-R blocks; numba, all threads): {wall_metrics:.1f} s wall, "
          f"{cpu_metrics:.1f} s CPU\ndense blocked float32 torch ({torch.get_num_threads()} threads) on "
          f"{dense_clouds}x{dense_clouds}: "
          f"{1e3 * cpu_dense / dense_clouds**2:.2f} ms CPU per pair; max relative difference "
          f"{dense_error:.1e}")  # fmt: skip
    return {"clouds": clouds, "points": points, "cores": os.cpu_count(), "first_call_wall_s": wall_first,
            "first_call_cpu_s": cpu_first, "runs": runs, "set_metrics_wall_s": wall_metrics,
            "set_metrics_cpu_s": cpu_metrics, "dense_cpu_ms_per_pair": 1e3 * cpu_dense / dense_clouds**2,
            "dense_max_relative_difference": dense_error}  # fmt: skip


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


def load_run(run: Path, checkpoint: Path | None = None):
    """The module (EMA weights of ``checkpoint``, default the newest) and data module of a ``sciddm fit`` run."""
    config = next(run.rglob("config.yaml"))
    checkpoint = checkpoint or max(run.rglob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    module, datamodule, _ = load_model(config, checkpoint)
    datamodule.setup()
    return module, datamodule, checkpoint


def per_family(clouds: np.ndarray, families: int, count: int) -> np.ndarray:
    """The first ``count`` clouds of each of ``families`` equal blocks (ProceduralShapes orders by family)."""
    return np.concatenate([block[:count] for block in np.split(clouds, families)])


def score_rows(rows: dict[str, np.ndarray], reference: np.ndarray, title: str) -> dict:
    """Set metrics of each row after unit-sphere normalisation, and two diagnostics of the raw samples: the mean
    largest radius about the centroid (1 for the normalised training shapes: larger means stray points, which
    the renormalisation turns into a shrunken shape) and the mean over samples of the smallest directed Chamfer
    distance sample -> reference (points off every reference surface: residual noise)."""
    print(f"| {title} | 1-NNA-CD | COV-CD | MMD-CD | raw radius | sample->ref CD |")
    print("|---|---|---|---|---|---|")
    results = {}
    for name, samples in rows.items():
        centred = samples - samples.mean(axis=1, keepdims=True)
        radius = float(np.linalg.norm(centred, axis=2).max(axis=1).mean())
        precision = float(directed_chamfer(samples, reference).min(axis=1).mean())
        results[name] = {**set_metrics(normalize(samples, "unit_sphere"), reference), "raw_radius": radius,
                         "sample_to_reference_cd": precision}  # fmt: skip
        print(f"| {name} | {results[name]['one_nna_cd']:.3f} | {results[name]['cov_cd']:.3f} | "
              f"{results[name]['mmd_cd']:.5f} | {radius:.3f} | {precision:.5f} |")  # fmt: skip
    return results


def model(run: Path, count: int, long_count: int, out: Path, checkpoint: Path | None = None,
          latent_prior: str | None = None, prior_options: dict | None = None, seed: int = 0) -> dict:  # fmt: skip
    module, datamodule, checkpoint = load_run(run, checkpoint)
    source = datamodule.source
    families, points = len(source.families), source.n_points
    train = datamodule.datasets["train"].points.double().numpy()
    reference = procedural(count, points, 1000)
    labels = torch.arange(families).repeat_interleave(count)
    print(f"run {checkpoint} (step {torch.load(checkpoint, weights_only=True)['global_step']}), {points} points, "
          f"{len(train)} training shapes, torch threads {torch.get_num_threads()}")  # fmt: skip
    timed = {}
    latent = getattr(datamodule, "shape_context", False)  # a shape-latent model: latents from the fitted prior
    wrapper = partial(LatentSampling, train_points=datamodule.latent_training_points(),
                      train_labels=datamodule.datasets["train"].labels, seed=seed,
                      prior=latent_prior or datamodule.latent_prior,
                      prior_options=datamodule.latent_prior_options if latent_prior is None else prior_options,
                      ) if latent else None  # fmt: skip

    def draw(name: str, labels: torch.Tensor, sampler: Sampler, scale: float = 1.0, network_wrapper=None) -> np.ndarray:
        start = time.perf_counter()
        samples, nfe = sample_classes(module, labels, points, sampler, seed=seed, guidance_scale=scale,
                                      network_wrapper=network_wrapper or wrapper)  # fmt: skip
        timed[name] = {"nfe": nfe, "seconds": time.perf_counter() - start, "samples": len(labels)}
        print(f"{name}: {nfe} network calls per sample, {timed[name]['seconds']:.0f} s for {len(labels)} samples")
        return samples.double().numpy()

    fast = draw("model, 50 NFE (dpmpp_2m)", labels, FAST)
    guided = None if latent else draw("model, CFG w=2, 50 steps (dpmpp_2m)", labels, FAST, 2.0)
    out.mkdir(parents=True, exist_ok=True)
    titles = [source.families[int(k)] for k in labels]
    pick = np.concatenate([np.arange(k * count, k * count + min(count, 4)) for k in range(families)])
    plot_cloud_grid(fast[pick], out / "samples_50nfe.png", [titles[i] for i in pick], point_size=4.0)
    baseline_rows = {"Gaussian fit": GaussianBaseline().fit(train).sample(len(reference), points, seed=3),
                     "jitter memoriser (sigma 0.02)": JitterBaseline(0.02).fit(train).sample(len(reference), points, 3),
                     "true distribution (fresh draw)": procedural(count, points, 2000)}  # fmt: skip
    model_rows = {"model, 50 NFE (dpmpp_2m)": fast} if guided is None else {
        "model, 50 NFE (dpmpp_2m)": fast, "model, CFG w=2": guided}  # fmt: skip
    if latent:  # the oracle prior: decode the references' own latents (reconstructions)
        with torch.no_grad():
            own = module.sampling_network.encode(torch.tensor(reference, dtype=torch.float32))
        model_rows["model, references' own latents (oracle prior)"] = draw(
            "oracle prior", labels, FAST, network_wrapper=given_latents(own))  # fmt: skip
    results = {"full": score_rows({**baseline_rows, **model_rows}, reference,
                                  f"{len(reference)} samples vs {len(reference)} references")}  # fmt: skip
    if long_count == 0:  # no 1000-NFE rows
        return {**results, "timing": timed, "checkpoint": str(checkpoint)}
    short = labels.view(families, count)[:, :long_count].reshape(-1)
    small = {name: per_family(rows, families, long_count) for name, rows in baseline_rows.items()}
    small["model, 50 NFE (dpmpp_2m)"] = per_family(fast, families, long_count)
    small["model, 1000 NFE (ddpm)"] = draw("model, 1000 NFE (ddpm)", short, SLOW)
    results["small"] = score_rows(small, per_family(reference, families, long_count),
                                  f"{len(short)} samples vs {len(short)} references")  # fmt: skip
    return {**results, "timing": timed, "checkpoint": str(checkpoint)}


def parse_prior(spec: str) -> tuple[str, dict]:
    """``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` (values read as YAML) -> ``(NAME, options)``."""
    name, _, options = spec.partition(":")
    return name, {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in options.split(",")
                                                                  if item)}  # fmt: skip


def summarize(per_seed: list[dict[str, dict]], baselines: tuple[str, ...]) -> dict:
    """Mean and sample standard deviation over seeds of each row's metrics, and for every row the 1-NNA-CD
    difference to each of ``baselines`` paired by seed (mean, standard error, seeds where the row is lower)."""
    summary = {}
    for name in per_seed[0]:
        values = {metric: np.array([seed[name][metric] for seed in per_seed]) for metric in per_seed[0][name]}
        row = {metric: {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
               for metric, v in values.items()}  # fmt: skip
        for baseline in baselines:
            difference = values["one_nna_cd"] - np.array([seed[baseline]["one_nna_cd"] for seed in per_seed])
            error = float(difference.std(ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else 0.0
            row[f"1-NNA minus {baseline}"] = {"mean": float(difference.mean()), "standard_error": error,
                                              "seeds_lower": int((difference < 0).sum())}  # fmt: skip
        summary[name] = row
    return summary


JITTER, MATCHED = "jitter memoriser (sigma 0.02)", "jitter memoriser, class-matched (sigma 0.02)"


def priors(run: Path, count: int, seeds: list[int], specs: list[str], nfe: int, checkpoint: Path | None = None,
           train_per_family: int = 0, reference_seed: int = 1000, validation_per_family: int = 0,
           code_samplings: int = 1) -> dict:  # fmt: skip
    """Latent priors of a shape-latent run against the memorisers over several sampling seeds (module doc)."""
    module, datamodule, checkpoint = load_run(run, checkpoint)
    denoiser, source = module.sampling_network, datamodule.source
    families, points = len(source.families), source.n_points
    samplings = None
    if train_per_family:  # the same trained encoder/decoder, priors and memorisers fitted on more shapes
        sets = ProceduralShapes(count_per_family=train_per_family, n_points=points, seed=source.seed).load_samplings(
            code_samplings)  # fmt: skip
        samplings = torch.tensor(np.stack([normalize(s.points, "unit_sphere") for s in sets]), dtype=torch.float32)
        train_points = samplings[0]
        train_labels = torch.arange(families).repeat_interleave(train_per_family)
    else:
        train_points, train_labels = datamodule.datasets["train"].points, datamodule.datasets["train"].labels
        if code_samplings > 1:  # the run's split, each shape drawn again K times (as the data module's option)
            if not hasattr(source, "load_samplings"):
                raise ConfigError(f"--code-samplings needs a source with load_samplings, not {type(source).__name__}")
            datamodule.latent_code_samplings = code_samplings
            samplings = datamodule.latent_training_points()
    if validation_per_family:  # fresh shapes (seed 3000) for the held-out likelihood
        validation_points = torch.tensor(procedural(validation_per_family, points, 3000), dtype=torch.float32)
        validation_labels = torch.arange(families).repeat_interleave(validation_per_family)
    else:
        validation_points, validation_labels = datamodule.datasets["val"].points, datamodule.datasets["val"].labels
    with torch.no_grad():
        train_latents = denoiser.encode(train_points) if samplings is None else denoiser.encode_samplings(samplings)
        validation_latents = denoiser.encode(validation_points)
    reference = procedural(count, points, reference_seed)
    labels = torch.arange(families).repeat_interleave(count)
    sampler = {50: FAST, 1000: SLOW}[nfe]
    print(f"run {checkpoint}, {len(train_points)} training shapes, {len(validation_points)} validation shapes, "
          f"{len(reference)} references (seed {reference_seed}), {nfe} NFE, seeds {seeds}")  # fmt: skip
    fitted, selection = {}, {}
    for spec in specs:
        name, options = parse_prior(spec)
        cpu = time.process_time()
        fitted[spec] = make_prior(name, train_latents, train_labels, denoiser.latent_noise**2, **options)
        prior = fitted[spec]
        selection[spec] = {"fit_cpu_s": time.process_time() - cpu,
                           **{key: getattr(prior, key) for key in ("components", "bandwidths") if hasattr(prior, key)}}
        if hasattr(prior, "log_prob"):
            scores = prior.log_prob(validation_latents, validation_labels)
            selection[spec]["validation_log_likelihood"] = float(scores.mean())
            selection[spec]["validation_log_likelihood_per_shape"] = scores.tolist()
        print(f"prior {spec}: {selection[spec]}")
    if not seeds:  # the selection alone (validation likelihoods), no test samples
        return {"checkpoint": str(checkpoint), "selection": selection}
    jitter = JitterBaseline(0.02).fit(train_points.double().numpy(), train_labels.numpy())

    def decode(latents: torch.Tensor, seed: int) -> np.ndarray:
        return sample_classes(module, labels, points, sampler, seed=seed, network_wrapper=given_latents(latents)
                              )[0].double().numpy()  # fmt: skip

    per_seed, cpu_seconds = [], []
    for seed in seeds:
        cpu = time.process_time()
        generator = torch.Generator().manual_seed(seed)
        members = [torch.nonzero(train_labels == k)[:, 0] for k in labels.tolist()]
        memorised = torch.stack([m[torch.randint(len(m), (1,), generator=generator)][0] for m in members])
        rows = {JITTER: jitter.sample(len(reference), points, seed),
                MATCHED: jitter.sample(len(reference), points, seed, labels.numpy()),
                "true distribution (fresh draw)": procedural(count, points, 2000 + 10 * seed),
                "latent memoriser (training latents decoded)": decode(train_latents[memorised], seed)}  # fmt: skip
        for spec, prior in fitted.items():
            rows[f"prior {spec}"] = decode(prior.sample(labels, torch.Generator().manual_seed(seed)), seed)
        per_seed.append(score_rows(rows, reference, f"seed {seed}: {len(reference)} vs {len(reference)}"))
        cpu_seconds.append(time.process_time() - cpu)
        print(f"seed {seed}: {cpu_seconds[-1]:.0f} CPU-s")
    summary = summarize(per_seed, (JITTER, MATCHED))
    print(f"| {len(reference)} vs {len(reference)}, {nfe} NFE, seeds {seeds} | 1-NNA-CD mean +- std | COV-CD | "
          f"MMD-CD | 1-NNA minus class-matched jitter (paired: mean +- s.e., seeds lower) |\n|---|---|---|---|---|")
    for name, row in summary.items():
        paired = row[f"1-NNA minus {MATCHED}"]
        print(f"| {name} | {row['one_nna_cd']['mean']:.3f} +- {row['one_nna_cd']['std']:.3f} | "
              f"{row['cov_cd']['mean']:.3f} +- {row['cov_cd']['std']:.3f} | {row['mmd_cd']['mean']:.5f} | "
              f"{paired['mean']:+.3f} +- {paired['standard_error']:.3f} ({paired['seeds_lower']}/{len(seeds)}) |")
    return {"checkpoint": str(checkpoint), "nfe": nfe, "seeds": seeds, "selection": selection,
            "per_seed": per_seed, "summary": summary, "cpu_seconds_per_seed": cpu_seconds}  # fmt: skip


def given_latents(latents: torch.Tensor):
    """A network wrapper (for ``sample_classes``) that hands fixed shape latents to every call."""
    return lambda network: lambda x_t, t, context: network(x_t, t, {**context, LATENT_KEY: latents})


def nearest_shape_completion(known: np.ndarray, train: np.ndarray, n_points: int, seed: int) -> np.ndarray:
    """Known points plus ``n_points - K`` random points of the training shape nearest to them (known -> shape)."""
    nearest = directed_chamfer(known, train).argmin(axis=1)
    extra = random_subset(train[nearest], n_points - known.shape[1], seed)
    return np.concatenate([known, extra], axis=1)


def completion(run: Path, count: int, known_points: int, upsample_known: int, out: Path,
               conditional_run: Path | None = None) -> dict:  # fmt: skip
    module, datamodule, _ = load_run(run)
    conditional = load_run(conditional_run)[0] if conditional_run is not None else None
    source = datamodule.source
    families, points = len(source.families), source.n_points
    train = datamodule.datasets["train"].points.double().numpy()
    full = per_family(procedural(count, points, 1000), families, count)
    labels = torch.arange(families).repeat_interleave(count)
    tasks = {"completion": half_space_cut(full, random_directions(len(full), seed=7), known_points),
             "upsampling": random_subset(full, upsample_known, seed=7)}  # fmt: skip
    results = {}
    for task, known in tasks.items():
        known_t = torch.tensor(known, dtype=torch.float32)
        rng = np.random.default_rng(5)
        rows = {
            "known points resampled": np.stack([k[rng.integers(len(k), size=points)] for k in known]),
            "known + nearest training shape": nearest_shape_completion(known, train, points, seed=5),
            "model, null label (50 NFE)": complete(module, known_t, points, FAST, 0, -torch.ones_like(labels))[0],
            "model, true label (50 NFE)": complete(module, known_t, points, FAST, 0, labels)[0],
        }
        if conditional is not None and task == "completion":
            rows["conditional completion model, true label (50 NFE)"] = complete(conditional, known_t, points, FAST,
                                                                                  0, labels)[0]  # fmt: skip
        print(f"| {task}: {len(full)} shapes, {known.shape[1]} known of {points} | CD | EMD |")
        print("|---|---|---|")
        results[task] = {}
        for name, completed in rows.items():
            completed = np.asarray(completed, dtype=np.float64)
            results[task][name] = completion_scores(completed, full)
            print(f"| {name} | {results[task][name]['cd']:.5f} | {results[task][name]['emd']:.4f} |")
        if task == "completion":
            pick = [k * count for k in range(families)]
            shown = {"partial": known, **{name: np.asarray(rows[name], dtype=np.float64) for name in rows
                                          if name.startswith(("model, true", "conditional"))}, "full shape": full}
            out.mkdir(parents=True, exist_ok=True)
            plot_cloud_grid([cloud for clouds in shown.values() for cloud in clouds[pick]], out / "completion.png",
                            [name.split(",")[0] for name in shown for _ in pick], columns=len(pick),
                            point_size=4.0)  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["speed", "emd", "baselines", "model", "priors", "completion"])
    parser.add_argument("--run", type=Path, help="a sciddm fit run directory (model, completion)")
    parser.add_argument("--checkpoint", type=Path, help="model: a checkpoint of --run (default: the newest)")
    parser.add_argument("--latent-prior", help="model: gaussian|mixture|diffusion (default: the run's config)")
    parser.add_argument("--prior-option", nargs="*", default=[], help="model: KEY=VALUE options of the latent prior")
    parser.add_argument("--seed", type=int, default=0, help="model: seed of the samples (noise and latents)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4], help="priors: sampling seeds")
    parser.add_argument("--prior", nargs="*", default=["mixture:components=4"],
                        help="priors: NAME[:KEY=VALUE,...] of each latent prior to compare")
    parser.add_argument("--nfe", type=int, choices=[50, 1000], default=50, help="priors: dpmpp_2m 50 or ddpm 1000")
    parser.add_argument("--train-per-family", type=int, default=0,
                        help="priors: fit priors and memorisers on this many shapes per family (0: the run's split)")
    parser.add_argument("--code-samplings", type=int, default=1,
                        help="priors: average each training shape's codes over K point samplings (--train-per-family)")
    parser.add_argument("--reference-seed", type=int, default=1000,
                        help="priors: seed of the references (1000: the test set; another: a validation set)")
    parser.add_argument("--validation-per-family", type=int, default=0,
                        help="priors: held-out likelihood on this many fresh shapes per family (0: the run's split)")
    parser.add_argument("--completion-run", type=Path, help="a conditional completion run (completion)")
    parser.add_argument("--long-per-family", type=int, default=8, help="samples per family at 1000 NFE (0: none)")
    parser.add_argument("--known", type=int, default=128, help="known points of a completion input")
    parser.add_argument("--upsample-known", type=int, default=64, help="known points of an upsampling input")
    parser.add_argument("--out", type=Path, default=Path("runs/pointclouds/benchmark"))
    parser.add_argument("--clouds", type=int, default=100)
    parser.add_argument("--dense-clouds", type=int, default=20, help="speed: clouds per set for the dense torch run")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--per-family", type=int, default=32)
    parser.add_argument("--points", type=int, default=2048)
    parser.add_argument("--samples", nargs="*", default=[], help="NAME=FILE of model samples [M, N, 3]")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.task == "speed":
        result = speed(args.clouds, args.points, args.dense_clouds)
    elif args.task == "emd":
        result = emd(args.pairs, args.points)
    elif args.task == "baselines":
        result = baselines(args.per_family, args.points, dict(item.split("=", 1) for item in args.samples))
    elif args.task == "model":
        options = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.prior_option)}
        result = model(args.run, args.per_family, args.long_per_family, args.out, args.checkpoint, args.latent_prior,
                       options, args.seed)  # fmt: skip
    elif args.task == "priors":
        result = priors(args.run, args.per_family, args.seeds, args.prior, args.nfe, args.checkpoint,
                        args.train_per_family, args.reference_seed, args.validation_per_family,
                        args.code_samplings)  # fmt: skip
    else:
        result = completion(args.run, args.per_family, args.known, args.upsample_known, args.out,
                            args.completion_run)  # fmt: skip
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
