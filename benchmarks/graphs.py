"""Graph benchmarks: the training split itself (train-vs-test), the two classical baselines, our diffusion model
trained for a fixed number of steps (``--fit``) and, optionally, files of model samples, each scored against
the test split; published numbers printed alongside.

    python benchmarks/graphs.py --dataset community_small planar --fit [--output runs/graphs_benchmark]
        [--config community_small=community_small_cut_dropout] [--samples planar=A.pt planar=B.pt] [--json FILE]
        [--override KEY VALUE ...]

``--constraint planar`` adds the baselines' samples projected onto planar graphs (each sample's edges added in a
random order while the graph stays planar, domains/graphs/constraints.py): the fair comparison for a model
sampled with the same projector (``configs/graphs/planar_absorbing.yaml``).

``--fit`` trains ``configs/graphs/{dataset}.yaml`` (or the config named for the data set by ``--config``) in this
process (validation sampling switched off, so the
budget is training only; ``--override`` adds LightningCLI options, e.g. ``--trainer.max_steps 200``), records
the process CPU seconds and wall seconds of training, then draws as many graphs as the test split holds with the
config's sampler (its step count and NFE are reported) and writes them with a picture under ``--output``.
Every row uses the same split (seeded by ``--seed``). MMD^2 keys are ``{statistic}_mmd2_{protocol}``
(protocols in domains/graphs/mmd.py): GDSS reports the ``emd`` protocol on Community-small and Grid, DiGress /
DeFoG the ``tv`` protocol and V.U.N. on Planar and SBM.

Evaluation noise (``--noise-study``): the test split of Community-small holds 20 graphs, so one sampling seed
says little. For each method (a fresh draw of the generator itself, i.e. the noise floor; on Community-small
also the generator with node counts drawn from the training graphs, ``generator_with_training_counts``; the two
baselines;
each ``--checkpoint NAME=CONFIG,CKPT`` at each of ``--sampling-steps``) and each of ``--sampling-seeds``, it
draws |test| graphs and scores them against the test split, and draws ``--fresh`` graphs and scores them against
``--fresh`` new graphs of the generator (seed 10_000, never trained on; ``--fresh-seed S`` draws another
reference, on which to choose settings before scoring them on the standard one); it prints mean and standard deviation
over the seeds, with how the drawn graphs break into components (two equal / unequal components, three or more,
an isolated node: why they are not connected).

    python benchmarks/graphs.py --dataset community_small --noise-study --sampling-seeds 0 1 2 3 4 --fresh 200
        --checkpoint ours=RUN/config.yaml,RUN/checkpoints/last.ckpt --sampling-steps 100 500
        [--time-distortion identity polydec] [--resample 1 2] [--categorical-solver ancestral:final=greedy]
        [--no-baselines]

Sampling settings of the checkpoints: every combination of ``--sampling-steps``, ``--time-distortion`` (DeFoG's
re-spaced time grids, sciddm/solvers/grids.py), ``--resample`` (each step repeated with a forward re-noising in
between, the core's RePaint option: NFE = resample x steps) and ``--categorical-solver`` (the core's discrete
solver spec, e.g. ``ancestral:final=greedy``: the step onto t = 0 takes the most likely class instead of
drawing from the predicted distribution); ``--no-baselines`` skips the generator and baseline rows.

Paired comparison (``--paired``): one fresh reference of 200 graphs is itself a noisy draw (fresh generator draws,
5 sampling seeds each, score 0.0021 degree EMD against the reference of seed 10_000 and 0.0059 against that of seed
20_000, with other sampling seeds), so a fixed reference can decide a close comparison by luck. With ``--paired``
sampling seed ``i`` is scored against its own reference (generator seed ``--fresh-seed + i``), every method meets
the same references, and a table of each model's mean difference to each baseline, with its standard error over
the seeds, follows the rows (``paired_differences``).

``--pool A.json B.json ...`` pools paired studies written with ``--json`` on parts of the same references (say the
baselines in one run and a model in two others, on disjoint seed ranges) and prints the pooled means and paired
differences (``pool_paired``).

Training exposure (``--bridge-exposure``, Community-small): how often the corrupted training graph ``x_t`` has no
edge left between the two communities (closed form, domains/graphs/exposure.py), per ``t`` and averaged over the
uniform training times, under the config's cosine keep schedule and the training edge marginals.

    python benchmarks/graphs.py --dataset community_small --bridge-exposure

How the trained networks answer in that state (``--cut-calibration`` with ``--checkpoint``s): on ``--fresh`` new
generator graphs (the fresh reference, never trained on), a draw ``x_t`` at each of several ``t`` with the cut of
the fewest-edge balanced bisection emptied, and the network's expected number of cross edges (sum of
p(edge) over the cross pairs; exposure.predicted_bridges) beside the clean graphs' mean number of cross edges.

    python benchmarks/graphs.py --dataset community_small --cut-calibration --checkpoint ours=CONFIG,CKPT
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import networkx as nx
import numpy as np

from domains.graphs import generators
from domains.graphs.baselines import ErdosRenyiBaseline, SBMBaseline
from domains.graphs.constraints import CONSTRAINTS, project_graphs
from domains.graphs.cuts import bisection_profile
from domains.graphs.data import marginals
from domains.graphs.datasets import load_dataset
from domains.graphs.exposure import mean_unlinked_probability, predicted_bridges
from domains.graphs.metrics import DATASET_VALIDITY, graph_metrics
from domains.graphs.readers import read_graphs
from domains.graphs.validity import component_profile
from sciddm.errors import ConfigError
from sciddm.io import write_json
from sciddm.paths.categorical import CategoricalPath, Cosine
from sciddm.sampling import Sampler
from sciddm.solvers.grids import TIME_DISTORTIONS

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "graphs"

# Published MMD^2 (GDSS Table 2, emd protocol) and V.U.N. (DiGress / DeFoG tables); the issue quotes them.
PUBLISHED = {
    "community_small": {"GDSS": {"degree_mmd2_emd": 0.045, "clustering_mmd2_emd": 0.086, "orbit_mmd2_emd": 0.007}},
    "grid": {"GDSS": {"degree_mmd2_emd": 0.111, "clustering_mmd2_emd": 0.005, "orbit_mmd2_emd": 0.070}},
    "planar": {"DiGress": {"vun": 0.75}, "DeFoG": {"vun": 0.995}},
    "sbm": {"DiGress": {"vun": 0.74}, "DeFoG": {"vun": 0.90}},
}
# The generator of each synthetic set with a seed argument (fresh draws for the noise study).
GENERATORS = {"community_small": generators.community_small, "planar": generators.planar, "sbm": generators.sbm}
FRESH_REFERENCE_SEED = 10_000
TRAINING_COUNTS_ROW = "generator, training node counts"
NOISE_COLUMNS = ["degree_mmd2_emd", "clustering_mmd2_emd", "orbit_mmd2_emd", "spectral_mmd2_emd", "degree_mmd2_tv",
                 "clustering_mmd2_tv", "orbit_mmd2_tv", "spectral_mmd2_tv", "nspdk_mmd2", "validity"]
# How the drawn graphs break into components (domains/graphs/validity.py): why they are not connected.
PROFILE_COLUMNS = ["two_equal_components", "two_unequal_components", "three_or_more_components", "isolated_node",
                   "bisection_cut", "bisection_cut_3_or_more", "bisection_inside_density"]
COLUMNS = ["degree_mmd2_emd", "clustering_mmd2_emd", "orbit_mmd2_emd", "spectral_mmd2_emd", "degree_mmd2_tv",
           "clustering_mmd2_tv", "orbit_mmd2_tv", "spectral_mmd2_tv", "nspdk_mmd2", "mean_ratio", "validity", "vun"]


def fit_and_sample(dataset: str, seed: int, output: Path, overrides: list[str], config: str | None = None
                   ) -> tuple[list[nx.Graph], dict]:
    """Train ``configs/graphs/{config}.yaml`` (default: ``{dataset}.yaml``), then sample as many graphs as the test
    split holds."""
    from sciddm.checkpoints import build_cli

    cli = build_cli(["--config", str(CONFIGS / f"{config or dataset}.yaml"), "--seed_everything", str(seed),
                     "--model.init_args.val_num_samples", "0", "--trainer.enable_progress_bar", "false",
                     "--trainer.default_root_dir", str(output / dataset), *overrides])
    cpu, wall = time.process_time(), time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    info = {"train_cpu_seconds": time.process_time() - cpu, "train_wall_seconds": time.perf_counter() - wall,
            "train_steps": cli.trainer.global_step, "sampling_steps": cli.model.sampler.steps,
            "parameters": sum(p.numel() for p in cli.model.network.parameters())}
    cpu = time.process_time()
    num = len(cli.datamodule.splits["test"])
    samples, context, info["nfe"] = cli.model.sample_from(cli.datamodule, num, seed=seed)
    info["sample_cpu_seconds"] = time.process_time() - cpu
    cli.datamodule.write_samples(samples, context, output / f"{dataset}_samples.pt")
    cli.datamodule.render_samples(samples, context, output / f"{dataset}_samples.png")
    return cli.datamodule.sample_graphs(samples, context), info


def run(dataset: str, seed: int, samples: Sequence[Path] = (), fit: bool = False,
        output: Path = Path("runs/graphs_benchmark"), overrides: list[str] = (), config: str | None = None,
        constraint: str | None = None) -> dict[str, dict]:
    """The benchmark table's rows; with ``constraint`` also each baseline's samples projected onto it
    (:func:`domains.graphs.constraints.project_graphs`), the fair comparison for a constrained sampler."""
    splits = load_dataset(dataset, seed=seed)
    validity = DATASET_VALIDITY.get(dataset, "connected")
    rows = {"train (reference)": splits.train[: len(splits.test)]}
    rows["Erdos-Renyi"] = ErdosRenyiBaseline().fit(splits.train).sample(len(splits.test), seed=seed)
    rows["SBM fit"] = SBMBaseline(seed=seed).fit(splits.train).sample(len(splits.test), seed=seed)
    if constraint is not None:
        for name in ("Erdos-Renyi", "SBM fit"):
            rows[f"{name} + {constraint} projector"] = project_graphs(rows[name], constraint, seed)
    extra = {}
    if fit:
        name = "ours (fixed budget)"
        rows[name], extra[name] = fit_and_sample(dataset, seed, output, list(overrides), config)
    for path in samples:
        rows[f"model ({path})"] = read_graphs(path)
    out = {}
    for name, graphs in rows.items():
        start = time.perf_counter()
        out[name] = graph_metrics(graphs, reference=splits.test, train=splits.train, validity=validity)
        out[name]["eval_seconds"] = time.perf_counter() - start
        out[name] |= extra.get(name, {})
    return out


def checkpoint_samplers(config: str, ckpt: str, settings: list[tuple[int, str, int, str]]
                        ) -> dict[tuple, Callable]:
    """For each ``(steps, time distortion, resample, categorical solver)`` setting, ``draw(num_graphs, seed)``
    sampling a trained checkpoint with that many sampling steps, DeFoG time distortion
    (``Sampler.time_distortion``), RePaint-style resampling ``r`` (each step taken ``r`` times with a forward
    re-noising in between; NFE = r x steps) and the core's categorical solver spec."""
    from sciddm.checkpoints import load_model

    module, datamodule, _ = load_model(config, ckpt)
    datamodule.setup()

    def sampler_draw(sampler: Sampler) -> Callable[[int, int], list[nx.Graph]]:
        def draw(num_graphs: int, seed: int) -> list[nx.Graph]:
            samples, context, _ = module.sample_from(datamodule, num_graphs, seed=seed, sampler=sampler)
            return datamodule.sample_graphs(samples, context)

        return draw

    base = dataclasses.asdict(module.sampler)
    return {(steps, distortion, resample, solver): sampler_draw(Sampler(**base | {
        "steps": steps, "time_distortion": distortion, "resample": resample, "categorical_solver": solver}))
        for steps, distortion, resample, solver in settings}


def noise_study(dataset: str, seeds: list[int], fresh: int, checkpoints: dict[str, tuple[str, str]],
                settings: list[tuple[int, str, int, str]], baselines: bool = True,
                fresh_seed: int = FRESH_REFERENCE_SEED, paired: bool = False) -> dict[str, dict]:
    """Mean and standard deviation over sampling ``seeds`` of every metric, against the test split and against
    ``fresh`` new generator graphs drawn with ``fresh_seed`` (see the module docstring), for the generator and the
    baselines (unless ``baselines`` is False) and each checkpoint at each ``(steps, time distortion, resample,
    solver)`` setting. With ``paired``, sampling seed ``i`` is scored against its own fresh reference, drawn with
    ``fresh_seed + i``: the seeds are then independent (reference, sample) pairs, and every method meets the same
    references (:func:`paired_differences`). Returns ``{method: {reference: {metric: [values]}}}``."""
    splits = load_dataset(dataset)
    generator = GENERATORS[dataset]
    validity = DATASET_VALIDITY.get(dataset, "connected")
    fresh_graphs = functools.cache(lambda generator_seed: generator(num_graphs=fresh, seed=generator_seed))
    references = {"test": lambda seed: splits.test,
                  "fresh": lambda seed: fresh_graphs(fresh_seed + (seed if paired else 0))}
    draws = {"generator": lambda n, seed: generator(num_graphs=n, seed=1 + seed),
             "Erdos-Renyi": ErdosRenyiBaseline().fit(splits.train).sample,
             "SBM fit": SBMBaseline().fit(splits.train).sample} if baselines else {}
    if baselines and dataset == "community_small":
        draws[TRAINING_COUNTS_ROW] = functools.partial(generator_with_training_counts, splits.train)
    for name, (config, ckpt) in checkpoints.items():
        for (k, distortion, r, solver), draw in checkpoint_samplers(config, ckpt, settings).items():
            label = f"{name}, {k} sampling steps" + (f", {distortion}" if distortion != "identity" else "")
            label += (f", resample {r}" if r > 1 else "") + (f", {solver}" if solver != "ancestral" else "")
            draws[label] = draw
    out: dict[str, dict] = {}
    for method, draw in draws.items():
        cpu = time.process_time()
        out[method] = {}
        for reference, graphs_of in references.items():
            runs = [scored(draw(len(graphs_of(seed)), seed), graphs_of(seed), validity) for seed in seeds]
            out[method][reference] = {c: [r[c] for r in runs] for c in NOISE_COLUMNS + PROFILE_COLUMNS}
        out[method]["cpu_seconds"] = time.process_time() - cpu
        print_noise_row(method, out[method], flush=True)
    return out


def generator_with_training_counts(train: list[nx.Graph], num_graphs: int, seed: int) -> list[nx.Graph]:
    """Community-small's generator with each graph's node count drawn from the training split's node counts: what
    a model with the true graph distribution scores when it takes its node counts from the training histogram (as
    the data module does). A reference level, not a lower bound."""
    counts = np.random.default_rng(seed).choice([g.number_of_nodes() for g in train], size=num_graphs)
    return generators.community_small(seed=1 + seed, node_counts=counts.tolist())


def paired_differences(study: dict[str, dict], method: str, baseline: str, reference: str = "fresh"
                       ) -> dict[str, tuple[float, float]]:
    """Per noise-study metric, the mean over seeds of ``method``'s value minus ``baseline``'s against the same
    reference, and its standard error (sample standard deviation / sqrt(seeds)). Valid as a paired comparison
    for a ``paired`` study, whose seeds are independent (reference, sample) pairs; sign: negative means a lower
    value for ``method`` (better for an MMD, worse for validity)."""
    out = {}
    for column in NOISE_COLUMNS:
        difference = np.subtract(study[method][reference][column], study[baseline][reference][column])
        out[column] = (float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(len(difference))))
    return out


def print_paired_differences(study: dict[str, dict], baselines: tuple[str, ...] = ("SBM fit", "Erdos-Renyi")) -> None:
    """Markdown table of :func:`paired_differences` of every checkpoint row, and of the generator (what a perfect
    model would show), against each baseline: mean ± standard error (t = mean / standard error)."""
    print("\n| method - baseline | " + " | ".join(NOISE_COLUMNS) + " |")
    print("|---" * (len(NOISE_COLUMNS) + 1) + "|")
    for method in (m for m in study if m not in baselines):
        for baseline in baselines:
            cells = [f"{mean:+.2g} ± {error:.2g} (t {mean / error if error > 0 else float('nan'):+.1f})"
                     for mean, error in paired_differences(study, method, baseline).values()]
            print(f"| {method} - {baseline} | " + " | ".join(cells) + " |")


def pool_paired(studies: list[dict], dataset: str) -> tuple[dict[str, dict], list[int]]:
    """One paired study from several ``--paired --json`` files run on parts of the same references (the same
    ``--fresh`` and ``--fresh-seed``), e.g. the baselines in one run and a model in two others: every method's
    per-seed values, keyed by sampling seed, restricted to the seeds all methods have, in seed order. Methods are
    matched by their row label, so pool only files whose labels name the same settings. A seed met twice by one
    method is kept once if its values agree (a rerun of the same rows, which seeded runs reproduce) and refused
    if they differ; files on different references, or no common seed, are refused."""
    references = {(study["settings"]["fresh"], study["settings"]["fresh_seed"]) for study in studies}
    if len(references) != 1 or not all(study["settings"]["paired"] for study in studies):
        raise ConfigError(f"pooled studies must be paired and share one reference setting, got {sorted(references)}")
    by_seed: dict[str, dict[int, dict[str, float]]] = {}
    for study in studies:
        seeds = study["settings"]["sampling_seeds"]
        for method, result in study["results"][dataset].items():
            values = by_seed.setdefault(method, {})
            for i, seed in enumerate(seeds):
                row = {column: result["fresh"][column][i] for column in NOISE_COLUMNS + PROFILE_COLUMNS}
                if seed in values and not np.array_equal(list(values[seed].values()), list(row.values()),
                                                         equal_nan=True):
                    raise ConfigError(f"{method!r} has sampling seed {seed} in two pooled files, with different "
                                      "values")
                values[seed] = row
    common = sorted(set.intersection(*(set(values) for values in by_seed.values())))
    if not common:
        raise ConfigError("no sampling seed is common to every method of the pooled files")
    pooled = {method: {"fresh": {column: [values[seed][column] for seed in common]
                                 for column in NOISE_COLUMNS + PROFILE_COLUMNS}}
              for method, values in by_seed.items()}
    return pooled, common


def scored(graphs: list[nx.Graph], reference: list[nx.Graph], validity: str) -> dict[str, float]:
    """The metrics of ``graphs`` against ``reference``, how they break into components and how they split into two
    communities."""
    return graph_metrics(graphs, reference=reference, validity=validity) | component_profile(graphs) | \
        bisection_profile(graphs)


def print_noise_row(method: str, result: dict, flush: bool = False) -> None:
    for reference in (r for r in ("test", "fresh") if r in result):  # a pooled study has the fresh one only
        cells = [f"{np.mean(v):.4f} ± {np.std(v, ddof=1):.4f}" for v in result[reference].values()]
        print(f"| {method} | {reference} | " + " | ".join(cells) + " |", flush=flush)


def print_table(dataset: str, results: dict[str, dict]) -> None:
    print(f"\n## {dataset}\n")
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, metrics in {**results, **{f"{k} (published)": v for k, v in PUBLISHED.get(dataset, {}).items()}}.items():
        cells = [f"{metrics[c]:.4g}" if c in metrics else "" for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, metrics in results.items():
        if "train_steps" in metrics:
            print(f"\n{name}: {metrics['train_steps']} training steps in {metrics['train_cpu_seconds']:.0f} CPU s "
                  f"({metrics['train_wall_seconds']:.0f} s wall), {metrics['parameters']} parameters; "
                  f"{metrics['sampling_steps']} sampling steps (NFE {metrics['nfe']}), "
                  f"{metrics['sample_cpu_seconds']:.1f} CPU s for {metrics['num_graphs']} graphs")


def bridge_exposure(times: list[float], grid_size: int = 1000) -> dict[str, float]:
    """Fraction of Community-small training examples whose corrupted graph has no edge between the communities,
    at each of ``times`` and averaged over a uniform grid of ``grid_size`` training times on [t_min, 1]."""
    train = load_dataset("community_small").train
    schedule = Cosine()
    path = CategoricalPath(schedule, 2, prior="marginal", marginal=marginals(train, 1, 2)[1])
    grid = np.linspace(schedule.t_min, 1.0, grid_size).tolist()
    out = {f"t={t:g}": mean_unlinked_probability(train, path, [t]) for t in times}
    return out | {"uniform t": mean_unlinked_probability(train, path, grid)}


def cut_calibration(checkpoints: dict[str, tuple[str, str]], times: list[float], fresh: int
                    ) -> dict[str, dict[str, float]]:
    """Per checkpoint and ``t``: the expected number of bridges its EMA network restores across an emptied cut of
    ``fresh`` new Community-small graphs (``exposure.predicted_bridges``), and the clean graphs' cross edges."""
    from sciddm.checkpoints import load_model

    graphs = generators.community_small(num_graphs=fresh, seed=FRESH_REFERENCE_SEED)
    out = {}
    for name, (config, ckpt) in checkpoints.items():
        module, _, _ = load_model(config, ckpt)
        network = module.sampling_network.eval()
        out[name] = predicted_bridges(network, module.fields, graphs, times)
    return out


def key_value_pairs(parser: argparse.ArgumentParser, option: str, items: list[str]) -> list[tuple[str, str]]:
    """The ``KEY=VALUE`` items of ``option`` in order; a malformed item is a usage error naming it (exit 2)."""
    malformed = [item for item in items if "=" not in item]
    if malformed:
        parser.error(f"{option} expects KEY=VALUE items, got {malformed[0]!r}")
    return [tuple(item.split("=", 1)) for item in items]


def key_values(parser: argparse.ArgumentParser, option: str, items: list[str]) -> dict[str, str]:
    """The ``KEY=VALUE`` items of ``option`` as a dict (see :func:`key_value_pairs`)."""
    return dict(key_value_pairs(parser, option, items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", default=["community_small", "planar"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", nargs="*", default=[],
                        help="DATASET=FILE pairs of model samples (a data set may take several files, one row each)")
    parser.add_argument("--json", type=Path, help="also write all numbers to this JSON file")
    parser.add_argument("--fit", action="store_true", help="train and sample our model (configs/graphs/*.yaml)")
    parser.add_argument("--output", type=Path, default=Path("runs/graphs_benchmark"))
    parser.add_argument("--config", nargs="*", default=[],
                        help="DATASET=NAME pairs: --fit trains configs/graphs/NAME.yaml for that data set")
    parser.add_argument("--constraint", choices=sorted(CONSTRAINTS),
                        help="also score the baselines' samples projected onto this constraint (ConStruct)")
    parser.add_argument("--noise-study", action="store_true", help="mean +- std over sampling seeds (see above)")
    parser.add_argument("--sampling-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--fresh", type=int, default=200, help="size of the fresh generator reference")
    parser.add_argument("--fresh-seed", type=int, default=FRESH_REFERENCE_SEED,
                        help="generator seed of the fresh reference (another seed: a validation reference on "
                             "which to choose sampler settings)")
    parser.add_argument("--paired", action="store_true",
                        help="score sampling seed i against its own fresh reference (seed --fresh-seed + i) and "
                             "print each model's paired differences to the baselines")
    parser.add_argument("--checkpoint", nargs="*", default=[], help="NAME=CONFIG,CKPT of trained models")
    parser.add_argument("--sampling-steps", type=int, nargs="+", default=[100])
    parser.add_argument("--time-distortion", nargs="+", default=["identity"], choices=sorted(TIME_DISTORTIONS),
                        help="DeFoG time distortions of the sampling grid (sciddm/solvers/grids.py)")
    parser.add_argument("--resample", type=int, nargs="+", default=[1], help="RePaint-style repeats of each step")
    parser.add_argument("--categorical-solver", nargs="+", default=["ancestral"],
                        help="core categorical solver specs, e.g. ancestral:final=greedy")
    parser.add_argument("--no-baselines", action="store_true", help="noise study of the checkpoints only")
    parser.add_argument("--pool", nargs="+", type=Path, default=[],
                        help="paired-study JSON files on parts of the same references: pooled means and differences")
    parser.add_argument("--bridge-exposure", action="store_true", help="Community-small training exposure (above)")
    parser.add_argument("--cut-calibration", action="store_true",
                        help="bridges the checkpoints restore across an emptied cut (above)")
    args, overrides = parser.parse_known_args()
    if args.pool:
        studies = []
        for path in args.pool:
            try:
                studies.append(json.loads(path.read_text()))
            except (OSError, ValueError) as error:
                parser.error(f"--pool: cannot read {path} as JSON ({type(error).__name__})")
        for dataset in args.dataset:
            try:
                pooled, seeds = pool_paired(studies, dataset)
            except (ConfigError, KeyError) as error:
                parser.error(f"--pool: {error}")
            missing = sorted({"SBM fit", "Erdos-Renyi"} - set(pooled))
            if missing:
                parser.error(f"--pool: the pooled files hold no {missing[0]!r} rows to compare with")
            print(f"{dataset}: {len(seeds)} paired seeds ({seeds[0]}-{seeds[-1]})")
            print("| method | reference | " + " | ".join(NOISE_COLUMNS + PROFILE_COLUMNS) + " |")
            for method, result in pooled.items():
                print_noise_row(method, result)
            print_paired_differences(pooled)
        return
    if args.bridge_exposure:
        for key, value in bridge_exposure([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7]).items():
            print(f"| {key} | {value:.4f} |")
        return
    checkpoints = {name: tuple(paths.split(",", 1))
                   for name, paths in key_values(parser, "--checkpoint", args.checkpoint).items()}
    if any(len(paths) != 2 for paths in checkpoints.values()):
        parser.error("--checkpoint expects NAME=CONFIG,CKPT items")
    if args.cut_calibration:
        if not checkpoints:
            parser.error("--cut-calibration needs at least one --checkpoint NAME=CONFIG,CKPT")
        for name, row in cut_calibration(checkpoints, [0.05, 0.1, 0.2, 0.3, 0.5, 0.7], args.fresh).items():
            print(f"| {name} | " + " | ".join(f"{k} {v:.3f}" for k, v in row.items()) + " |")
        return
    if args.noise_study:
        if args.constraint:
            parser.error("--constraint projects the baselines of the benchmark table; the noise study has no use "
                         "for it")
        print("| method | reference | " + " | ".join(NOISE_COLUMNS + PROFILE_COLUMNS) + " |")
        print("|---" * (len(NOISE_COLUMNS + PROFILE_COLUMNS) + 2) + "|")
        settings = list(itertools.product(args.sampling_steps, args.time_distortion, args.resample,
                                          args.categorical_solver))
        if args.paired and len(args.sampling_seeds) < 2:
            parser.error("--paired needs at least two --sampling-seeds (a standard error over the seeds)")
        study = {d: noise_study(d, args.sampling_seeds, args.fresh, checkpoints, settings, not args.no_baselines,
                                args.fresh_seed, args.paired) for d in args.dataset}
        if args.paired and not args.no_baselines:
            for result in study.values():
                print_paired_differences(result)
        if args.json:
            write_json(args.json, {"settings": {"sampling_seeds": args.sampling_seeds, "fresh": args.fresh,
                                                "fresh_seed": args.fresh_seed, "paired": args.paired},
                                   "results": study})
        return
    samples = key_value_pairs(parser, "--samples", args.samples)
    if len(set(samples)) < len(samples):
        parser.error("--samples names a file twice")
    configs = key_values(parser, "--config", args.config)
    everything = {}
    for dataset in args.dataset:
        files = [Path(path) for name, path in samples if name == dataset]
        everything[dataset] = run(dataset, args.seed, files, args.fit, args.output, overrides, configs.get(dataset),
                                  args.constraint)
        print_table(dataset, everything[dataset])
    if args.json:
        write_json(args.json, everything)


if __name__ == "__main__":
    main()
