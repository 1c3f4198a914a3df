"""Molecule benchmarks: denoiser cost, sampling speed and quality versus NFE, quality versus training time.

    python benchmarks/molecules.py denoisers [--batch-size 64 128] [--repeats 3] [--device cpu|cuda]
    python benchmarks/molecules.py sampling --config CONFIG --ckpt_path CKPT [--num-samples 200]
    python benchmarks/molecules.py training [--config configs/molecules/qm9_quick.yaml] [--steps 300 600 1200]
        [--network egnn|egnn_sparse|eqgat|eqgat_sparse|tensor_product] [--self-conditioning]
    python benchmarks/molecules.py guided --config CONFIG --ckpt_path CKPT [--num-samples 50] [--n 4]

* ``denoisers``: training (forward + backward) and forward molecules/s of the dense and sparse EGNN and EQGAT
  (the sparse ones: same weights, messages over a torch-geometric edge_index) and the e3nn network at
  matched parameter count (about 0.82M each) on real QM9 batches with hydrogens, with the fraction of the dense
  layout's pair slots that hold real atom pairs; peak memory of one training step (CUDA: peak allocated; CPU:
  growth of the process's peak resident set during the steps, measured in a fresh child process per run).
* ``sampling``: a trained model's samples at several NFE: ``dpmpp_2m`` (positions; ancestral categorical
  updates) at 10/25/50/100 steps against ``ddpm`` (ancestral for every field) at 500 steps; molecules/s and
  the data module's metrics (stability, validity, uniqueness...).
* ``training``: trains a config's model in-process (the same loss, optimiser and EMA as ``sciddm fit``) and
  scores samples (the config's sampler) of the EMA weights after each of the given optimiser-step budgets,
  with the training CPU seconds; ``--network`` swaps the config's denoiser for another at the same width and
  depth and about the same parameter count (``QUICK_WIDTHS``).
* ``guided``: reward-guided design on QED (:class:`domains.molecules.rewards.MoleculeReward`, invalid = 0):
  plain ancestral sampling (``ddpm``, 50 steps) against best-of-N and greedy SVDD with N candidates (the
  particle methods need a stochastic one-step solver); mean QED, validity and cost per returned molecule.

All runs use one torch thread unless ``--threads`` says otherwise (the machine is shared).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from queue import Empty

import torch
import torch.nn.functional as F

DENOISER_CLASSES = {
    "egnn": ("denoisers", "EGNNDenoiser"),
    "egnn_sparse": ("denoisers", "SparseEGNNDenoiser"),
    "eqgat": ("denoisers", "EQGATDenoiser"),
    "eqgat_sparse": ("denoisers", "SparseEQGATDenoiser"),
    "tensor_product": ("tensor_product", "TensorProductDenoiser"),
}
DENOISERS = {  # matched parameter counts: 824,019 (EGNNs), 811,747 (EQGATs) and 819,125
    "egnn": {"hidden_dim": 128, "edge_dim": 32, "num_layers": 6},
    "egnn_sparse": {"hidden_dim": 128, "edge_dim": 32, "num_layers": 6},
    "eqgat": {"hidden_dim": 136, "vector_dim": 32, "edge_dim": 32, "num_layers": 6},
    "eqgat_sparse": {"hidden_dim": 136, "vector_dim": 32, "edge_dim": 32, "num_layers": 6},
    "tensor_product": {"hidden_dim": 132, "vector_dim": 32, "edge_dim": 32, "num_layers": 6},
}
QUICK_WIDTHS = {  # replacing qm9_quick.yaml's EGNN (4 layers, hidden 64, edges 16: 145,200 parameters)
    "egnn": {}, "egnn_sparse": {},
    "eqgat": {"hidden_dim": 68, "vector_dim": 16},  # 145,848 parameters
    "eqgat_sparse": {"hidden_dim": 68, "vector_dim": 16},
    "tensor_product": {"hidden_dim": 66, "vector_dim": 16},  # 146,404 parameters
}


def denoiser_class_path(name: str) -> str:
    module, class_name = DENOISER_CLASSES[name]
    return f"domains.molecules.{module}.{class_name}"


def build_denoiser(name: str) -> torch.nn.Module:
    import importlib

    module, class_name = DENOISER_CLASSES[name]
    return getattr(importlib.import_module(f"domains.molecules.{module}"), class_name)(**DENOISERS[name])


def one_hot_inputs(fields: dict, device: str) -> dict:
    return {"pos": fields["pos"].to(device),
            "atom_types": F.one_hot(fields["atom_types"], 5).float().to(device),
            "charges": F.one_hot(fields["charges"], 3).float().to(device),
            "bonds": F.one_hot(fields["bonds"], 5).float().to(device)}


def rate(step, count: int, repeats: int, device: str) -> float:
    """Molecules per second of ``step`` after one warm-up call: per CPU second of this process on the CPU (one
    thread, so robust to other jobs' load), per wall second on CUDA."""
    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    clock = time.perf_counter if device == "cuda" else time.process_time
    start = clock()
    for _ in range(repeats):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return repeats * count / (clock() - start)


def measure_denoiser(name: str, batch_size: int, repeats: int, device: str, threads: int) -> dict:
    from domains.molecules.data import MoleculeDataModule

    torch.set_num_threads(threads)
    module = MoleculeDataModule(max_molecules=4 * batch_size, batch_size=batch_size)
    fields, context = next(iter(module.train_dataloader()))
    x_t = one_hot_inputs(fields, device)
    context = {"node_mask": context["node_mask"].to(device)}
    t = torch.rand(batch_size, generator=torch.Generator().manual_seed(0)).to(device)
    torch.manual_seed(0)
    net = build_denoiser(name).to(device)

    def train_step():
        out = net(x_t, t, context)
        sum(v.square().mean() for v in out.values()).backward()

    def forward_step():
        with torch.no_grad():
            net(x_t, t, context)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train = rate(train_step, batch_size, repeats, device)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    forward = rate(forward_step, batch_size, repeats, device)
    atoms = context["node_mask"].sum(dim=1)
    slots = batch_size * x_t["pos"].shape[1] * (x_t["pos"].shape[1] - 1)
    return {"name": name, "params": sum(p.numel() for p in net.parameters()), "train": train, "forward": forward,
            "peak_mib": peak, "max_atoms": x_t["pos"].shape[1], "mean_atoms": atoms.float().mean().item(),
            "pair_fill": (atoms * (atoms - 1)).sum().item() / slots, "cpu_seconds": time.process_time()}


def _child(queue, *args) -> None:
    """Measure in a fresh process; a failure is reported back (the parent would otherwise wait forever)."""
    try:
        queue.put(measure_denoiser(*args))
    except Exception as error:  # noqa: BLE001  # any failure ends this row, not the benchmark
        queue.put({"error": f"{type(error).__name__}: {error}"})


def child_result(queue, process) -> dict:
    """The child's row, or an error row once it has died without one (a crash, or a kill for memory)."""
    while True:
        try:
            return queue.get(timeout=5)
        except Empty:
            if not process.is_alive():
                return {"error": f"the measuring process died (exit code {process.exitcode})"}


def denoisers(args: argparse.Namespace) -> None:
    unit = "mol/s" if args.device == "cuda" else "mol per CPU s"
    print(f"device={args.device} threads={args.threads} repeats={args.repeats}")
    print(f"| batch | max atoms | real pairs / dense pair slots | denoiser | parameters | training {unit} | "
          f"forward {unit} | peak MiB (training step) |")
    print("|---|---|---|---|---|---|---|---|")
    context = multiprocessing.get_context("spawn")  # a fresh process per denoiser: a clean peak RSS
    total = 0.0
    for batch_size in args.batch_size:
        for name in args.denoisers:
            queue = context.Queue()
            process = context.Process(target=_child, args=(queue, name, batch_size, args.repeats, args.device,
                                                           args.threads))
            process.start()
            row = child_result(queue, process)
            process.join()
            if "error" in row:
                print(f"| {batch_size} | | | {name} | failed: {row['error']} | | | |", flush=True)
                continue
            total += row["cpu_seconds"]
            print(f"| {batch_size} | {row['max_atoms']} | {100 * row['pair_fill']:.0f}% | {name} | {row['params']:,} | "
                  f"{row['train']:.1f} | {row['forward']:.1f} | {row['peak_mib']:.0f} |", flush=True)
    print(f"CPU seconds of the measuring processes: {total:.0f}")


def quality_row(data, samples, context) -> str:
    metrics = data.evaluate_samples(samples, context)
    keys = ("edm_molecule_stability", "valence_molecule_stability", "validity", "connected_validity",
            "uniqueness")
    return " | ".join("-" if metrics.get(k) is None else f"{100 * metrics[k]:.1f}" for k in keys)


QUALITY_HEADER = "mol. stable EDM % | mol. stable valence % | valid % | connected valid % | unique %"


def sampling(args: argparse.Namespace) -> None:
    from sciddm.checkpoints import load_model
    from sciddm.sampling import Sampler

    torch.set_num_threads(args.threads)
    module, data, _ = load_model(args.config, args.ckpt_path)
    print(f"{args.num_samples} samples, seed {args.seed}, batch {args.batch_size}")
    print(f"| solver | steps | NFE | molecules/s | {QUALITY_HEADER} |")
    print("|---|---|---|---|" + "---|" * 5)
    runs = [("dpmpp_2m", s) for s in args.steps] + [("ddpm", args.ancestral_steps)]
    for solver, steps in runs:
        sampler = Sampler(solver=solver, steps=steps, grid="log_snr", categorical_solver="ancestral")
        parts, start, nfe = [], time.perf_counter(), 0
        for first in range(0, args.num_samples, args.batch_size):
            size = min(args.batch_size, args.num_samples - first)
            samples, context, nfe = module.sample_from(data, size, seed=args.seed + first, sampler=sampler)
            parts.append((samples, context))
        elapsed = time.perf_counter() - start
        from sciddm.checkpoints import pad_and_concat

        samples = {k: pad_and_concat([p[0][k] for p in parts]) for k in parts[0][0]}
        context = {k: pad_and_concat([p[1][k] for p in parts]) for k in parts[0][1]}
        print(f"| {solver} | {steps} | {nfe} | {args.num_samples / elapsed:.1f} | "
              f"{quality_row(data, samples, context)} |", flush=True)


def training(args: argparse.Namespace) -> None:
    from sciddm.checkpoints import build_cli

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    overrides = []
    if args.network is not None:
        overrides = [f"--model.init_args.network.class_path={denoiser_class_path(args.network)}"]
        overrides += [f"--model.init_args.network.init_args.{k}={v}" for k, v in QUICK_WIDTHS[args.network].items()]
    if args.self_conditioning:
        overrides.append("--model.init_args.network.init_args.self_conditioning=true")
    cli = build_cli(["--config", args.config, "--trainer.logger", "false", "--trainer.enable_checkpointing", "false",
                     *overrides])
    module, data = cli.model, cli.datamodule
    module.count_data_marginals(data.train_dataloader)  # as fit does when it starts ('marginal: data' priors)
    configured = module.configure_optimizers()  # an optimiser, or with a warm-up / decay also a per-step schedule
    optimiser = configured["optimizer"] if isinstance(configured, dict) else configured
    schedule = configured["lr_scheduler"]["scheduler"] if isinstance(configured, dict) else None
    budgets = sorted(args.steps)
    parameters = sum(p.numel() for p in module.network.parameters())
    print(f"{args.config}, network {type(module.network).__name__} ({parameters:,} parameters"
          f"{', self-conditioned' if args.self_conditioning else ''}): "
          f"{args.num_samples} samples per row, {module.sampler.solver} {module.sampler.steps} steps, EMA weights")
    print(f"| steps | training CPU s | molecules seen | {QUALITY_HEADER} |")
    print("|---|---|---|" + "---|" * 5)
    cpu, steps, seen = 0.0, 0, 0
    loader = data.train_dataloader()  # one loader: its seeded generator reshuffles every epoch, as in fit
    while budgets:
        for batch in loader:
            start = time.process_time()
            loss, _ = module.diffusion_loss(module.network, batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if schedule is not None:
                schedule.step()
            module.ema.update_parameters(module.network)
            cpu += time.process_time() - start
            steps += 1
            seen += len(batch[0]["pos"])
            if steps == budgets[0]:
                samples, context, _ = module.sample_from(data, args.num_samples, seed=args.seed)
                print(f"| {steps} | {cpu:.0f} | {seen} | {quality_row(data, samples, context)} |", flush=True)
                budgets.pop(0)
                if not budgets:
                    break


def guided(args: argparse.Namespace) -> None:
    from domains.molecules.rewards import MoleculeReward
    from sciddm.checkpoints import load_model
    from sciddm.guidance import best_of_n, svdd
    from sciddm.sampling import Sampler, sample_fields

    torch.set_num_threads(args.threads)
    module, data, _ = load_model(args.config, args.ckpt_path)
    network, fields = module.sampling_network.eval(), module.fields
    sampler = Sampler(solver="ddpm", steps=args.steps, grid="log_snr", categorical_solver="ancestral")
    reward = MoleculeReward("qed", data.vocabulary, implicit_hydrogens=data.implicit_hydrogens)
    template, context = data.sample_template(args.num_samples, torch.Generator().manual_seed(args.seed))
    methods = {
        "plain": lambda g: (*sample_fields(network, fields, template, context, sampler, g), 0),
        f"best-of-{args.n}": lambda g: _guided_row(best_of_n(network, fields, template, context, sampler, reward,
                                                             args.n, g)),
        f"SVDD greedy, {args.n} candidates": lambda g: _guided_row(svdd(network, fields, template, context,
                                                                        sampler, reward, args.n, 0.0, g)),
    }
    print(f"{args.num_samples} molecules, ddpm {args.steps} steps, reward QED (invalid = 0)")
    print("| method | mean QED | valid % | unique % | NFE per molecule | reward calls per molecule | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, run in methods.items():
        start = time.perf_counter()
        with torch.no_grad():
            samples, nfe, calls = run(torch.Generator().manual_seed(args.seed))
        elapsed = time.perf_counter() - start
        metrics = data.evaluate_samples(samples, context)
        qed = reward(samples, context).mean().item()
        unique = "-" if metrics["uniqueness"] is None else f"{100 * metrics['uniqueness']:.1f}"
        print(f"| {name} | {qed:.3f} | {100 * metrics['validity']:.1f} | {unique} | {nfe:.0f} | {calls:.0f} | "
              f"{elapsed:.0f} |", flush=True)


def _guided_row(result) -> tuple[dict, float, float]:
    return result.samples, result.network_evaluations, result.reward_evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    commands = parser.add_subparsers(dest="command", required=True)
    cost = commands.add_parser("denoisers")
    cost.add_argument("--batch-size", type=int, nargs="+", default=[64, 128])
    cost.add_argument("--denoisers", nargs="+", choices=sorted(DENOISERS), default=list(DENOISERS))
    cost.add_argument("--repeats", type=int, default=3)
    cost.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    speed = commands.add_parser("sampling")
    speed.add_argument("--config", required=True)
    speed.add_argument("--ckpt_path", required=True)
    speed.add_argument("--num-samples", type=int, default=200)
    speed.add_argument("--batch-size", type=int, default=100)
    speed.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100])
    speed.add_argument("--ancestral-steps", type=int, default=500)
    curve = commands.add_parser("training")
    curve.add_argument("--config", default="configs/molecules/qm9_quick.yaml")
    curve.add_argument("--steps", type=int, nargs="+", default=[300, 600, 1200])
    curve.add_argument("--network", choices=sorted(QUICK_WIDTHS), default=None,
                       help="replace the config's network (same width and depth; vector features for EQGAT and e3nn)")
    curve.add_argument("--num-samples", type=int, default=200)
    curve.add_argument("--self-conditioning", action="store_true",
                       help="the network reads its previous estimate (trained at the module's rate, 0.5)")
    design = commands.add_parser("guided")
    design.add_argument("--config", required=True)
    design.add_argument("--ckpt_path", required=True)
    design.add_argument("--num-samples", type=int, default=50)
    design.add_argument("--steps", type=int, default=50)
    design.add_argument("--n", type=int, default=4)
    args = parser.parse_args()
    {"denoisers": denoisers, "sampling": sampling, "training": training, "guided": guided}[args.command](args)


if __name__ == "__main__":
    main()
