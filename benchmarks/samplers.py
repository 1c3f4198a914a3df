r"""Sampler accuracy and overhead on a Gaussian-mixture target with the exact denoiser.

Usage (from the repository root)::

    python -m benchmarks.samplers [--dim 8 --components 8 --seed 0 --samples 2048 --json]

**Target.** :class:`tests.sciddm.gaussian_targets.GaussianMixture` with ``K`` isotropic components in ``D``
dimensions: means :math:`\sim\mathcal N(0, 2^2 I)`, scales log-uniform in [0.05, 0.5], Dirichlet(1) weights, all
from ``--seed``. The denoiser is the exact posterior mean :math:`E[x_0\mid x_t]` (responsibilities in log space),
so every error below is the solver's discretisation error alone.

**One ODE for everyone.** A variance-preserving path has :math:`\alpha^2 = \mathrm{sigmoid}(\lambda)`, so its
probability-flow ODE, written in the log-SNR :math:`\lambda`, does not depend on the schedule: two samplers
integrate the same ODE when they start and stop at the same :math:`\lambda`. The noise levels are those of
diffusers' default DDPM training schedule (``beta_schedule="linear"``, :math:`\beta` from 1e-4 to 0.02 over 1000
steps, :math:`\bar\alpha_i = \prod_{j\le i}(1-\beta_j)`):

* start: :math:`\lambda_T = \log(\bar\alpha_{999}/(1-\bar\alpha_{999}))\approx -10.1`, from the same
  :math:`x_T\sim\mathcal N(0, I)` (``--seed``), on every side;
* end: :math:`\sigma = 0` (the clean sample) on every side. diffusers' schedulers end there by default
  (``final_sigmas_type="zero"``; DDIM with ``set_alpha_to_one=True``); our solvers walk their grid down to
  ``t_min = 1e-3``, the VP-linear default (:math:`\lambda\approx 9.2`, the same level as diffusers'
  :math:`\bar\alpha_0`), and ``denoise_final=True`` spends the last evaluation on :math:`\hat x_0`, so
  NFE = grid steps + 1 (Heun: 2 per step + 1).

Our side uses ``VPLinear(0.1, beta_max)``, the continuous analogue of those betas, with ``beta_max``
(:math:`\approx 20.13` instead of 20: the discrete product decays slightly faster than the continuous integral)
chosen so that :math:`\lambda(1) = \lambda_T` exactly, and starts at ``t = 1``; diffusers runs on its own
discrete schedule. Grid per solver:
``ddim``, ``dpmpp_2m``, ``dpmpp_3m`` on ``log_snr`` (their natural variable), ``euler`` and ``heun`` on ``edm``
(Karras et al. 2022, :math:`\rho=7`); ``--all-grids`` adds every solver on every grid.

**Reference.** ``dpmpp_3m`` with 2000 equal log-SNR steps from :math:`\lambda_T` to :math:`\lambda=15`, then
:math:`\hat x_0` (``--reference-steps``); its distance to the same run with twice the steps is printed as the
reference error. Errors: the RMS over all samples and coordinates, :math:`\sqrt{\operatorname{mean}(x-x_{\rm ref})^2}`,
and the median over samples of each sample's RMS error (insensitive to the few trajectories that end in another
component, which dominate the RMS at small NFE). A harness check runs diffusers' DDIM and ours with 200
steps uniform in t down to sigma = 0 (diffusers' integer timesteps vs our continuous t): the errors must agree.

**diffusers** (when importable) gets the exact denoiser as an epsilon prediction,
:math:`\hat\varepsilon = (x - \alpha\hat x_0)/\sigma`, at the noise level the scheduler itself uses for that step
(``sigmas[step]`` for the multistep schedulers, ``alphas_cumprod[t]`` for DDIM), one call per step (NFE = steps).
DDIM uses ``timestep_spacing="trailing"`` (so it starts at t=999 like the others) and ``clip_sample=False``;
the multistep schedulers run with their defaults and, as extra rows, with their non-uniform sigma options.
(diffusers' DDIM steps to ``t - 1000 // NFE``, which only matches its trailing grid when NFE divides 1000, as all
NFEs here do.)

**End-point sensitivity.** ``dpmpp_2m``/``dpmpp_3m``/``unipc`` stopping their log-SNR or uniform-t grid at
:math:`\lambda` = 2, 4, 6
(instead of 9.2) before the final :math:`\hat x_0`: fewer steps are spent where little happens, at the price of
a first-order last jump. Shown for information; the headline rows keep the library default.

**Order.** The fitted slope of log error against log NFE for ``dpmpp_2m`` stopping at ``t_min`` *without* the
final :math:`\hat x_0` (so the last step is an ordinary second-order step), against a reference stopped there too,
for the RMS error and for the median over samples of the per-sample error.

**Overhead.** Time per network evaluation spent outside the network: the whole sampling loop
(:func:`sciddm.sampling.solve`, 50 steps) with an identity denoiser, divided by NFE, as a fraction of one forward
of a ~1M-parameter MLP denoiser at batch 1024; median of repeats, one thread.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from sciddm.paths.gaussian import GaussianPath
from sciddm.sampling import solve
from sciddm.schedules import VPLinear
from sciddm.solvers import make_solver, time_grid
from tests.sciddm.gaussian_targets import GaussianMixture

NFES = (5, 10, 20, 50)
OUR_SOLVERS = {"ddim": "log_snr", "euler": "edm", "heun": "edm", "dpmpp_2m": "log_snr", "dpmpp_3m": "log_snr",
               "unipc": "log_snr"}
T_END = 1e-3
REFERENCE_END_LOG_SNR = 15.0  # the grids clip log-SNR spacing to |lambda| <= 15
ORDER_NFES = (20, 40, 80, 160, 320, 640)
END_LOG_SNRS = (2.0, 4.0, 6.0)
TRAIN_STEPS, BETA_START, BETA_END = 1000, 1e-4, 0.02
BETA_MIN_CONTINUOUS = TRAIN_STEPS * BETA_START


def training_alphas_cumprod() -> Tensor:
    """diffusers' ``alphas_cumprod`` for ``beta_schedule="linear"`` (float32, as diffusers stores it)."""
    betas = torch.linspace(BETA_START, BETA_END, TRAIN_STEPS, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def epsilon_model(mixture: GaussianMixture, alpha: float, sigma: float, x: Tensor) -> Tensor:
    r"""The exact denoiser as an epsilon prediction :math:`(x - \alpha\hat x_0)/\sigma`."""
    return (x - alpha * mixture.posterior_mean(x, alpha, sigma)) / sigma


def rms(a: Tensor, b: Tensor) -> float:
    return (a - b).pow(2).mean().sqrt().item()


def error_stats(x: Tensor, reference: Tensor) -> dict:
    """RMS error, and the median over samples of each sample's RMS error (insensitive to the few trajectories
    that end in a different mixture component)."""
    per_sample = (x - reference).pow(2).mean(1).sqrt()
    return {"rms_error": rms(x, reference), "median_error": per_sample.median().item()}


class Setup:
    """The mixture, the shared start ``x_T``, our path and the start time matching diffusers' t=999."""

    def __init__(self, dim: int, components: int, seed: int, samples: int):
        self.mixture = GaussianMixture.random(dim, components, seed)
        self.x_T = torch.randn(samples, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
        acp = training_alphas_cumprod().double()
        self.log_snr_start = torch.log(acp[-1] / (1 - acp[-1])).item()
        # log alpha(1)^2 = -(beta_min + beta_max) / 2 must equal log acp[999]
        self.beta_max = -2.0 * torch.log(acp[-1]).item() - BETA_MIN_CONTINUOUS
        self.path = GaussianPath(VPLinear(BETA_MIN_CONTINUOUS, self.beta_max))
        self.t_start = 1.0

    def run(self, solver: str, grid: Tensor, denoise_final: bool = True):
        return solve(self.path, make_solver(solver), self.mixture.denoiser(self.path), self.x_T.clone(), grid,
                     denoise_final=denoise_final)

    def grid(self, steps: int, kind: str, t_min: float = T_END) -> Tensor:
        return time_grid(self.path.schedule, steps, kind, t_max=self.t_start, t_min=t_min)

    def reference(self, steps: int, to_zero: bool) -> Tensor:
        """``dpmpp_3m`` on an equal-log-SNR grid, to sigma = 0 (via lambda = 15) or stopping at ``T_END``."""
        t_min = self.path.schedule.t_from_log_snr(torch.tensor(REFERENCE_END_LOG_SNR)).item() if to_zero else T_END
        return self.run("dpmpp_3m", self.grid(steps, "log_snr", t_min), denoise_final=to_zero).x


def steps_for(solver: str, nfe: int) -> int:
    """Grid steps so that NFE (including the final x0 evaluation) does not exceed ``nfe``."""
    return max(1, (nfe - 1) // make_solver(solver).evals_per_step)


def our_errors(setup: Setup, reference: Tensor, runs: list[tuple[str, str]]) -> list[dict]:
    rows = []
    for solver, kind in runs:
        for nfe in NFES:
            result = setup.run(solver, setup.grid(steps_for(solver, nfe), kind))
            rows.append({"sampler": f"sciddm {solver}", "grid": kind, "nfe_budget": nfe, "nfe": result.nfe}
                        | error_stats(result.x, reference))
    return rows


def diffusers_configs() -> dict[str, tuple[type, str, dict]]:
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

    common = {"num_train_timesteps": TRAIN_STEPS, "beta_start": BETA_START, "beta_end": BETA_END,
              "beta_schedule": "linear", "prediction_type": "epsilon"}
    dpm = {"algorithm_type": "dpmsolver++", "solver_order": 2}
    configs = {
        "DDIM": (DDIMScheduler, "trailing t", {"timestep_spacing": "trailing", "clip_sample": False,
                                               "set_alpha_to_one": True}),
        "DPM++2M": (DPMSolverMultistepScheduler, "linspace t", dpm),
        "DPM++2M lu_lambdas": (DPMSolverMultistepScheduler, "uniform lambda", dpm | {"use_lu_lambdas": True}),
        "DPM++2M karras": (DPMSolverMultistepScheduler, "karras sigmas", dpm | {"use_karras_sigmas": True}),
        "UniPC bh2": (UniPCMultistepScheduler, "linspace t", {}),
        "UniPC bh2 karras": (UniPCMultistepScheduler, "karras sigmas", {"use_karras_sigmas": True}),
    }
    return {name: (cls, grid, common | options) for name, (cls, grid, options) in configs.items()}


def run_diffusers(setup: Setup, scheduler, nfe: int) -> Tensor:
    """Integrate with a diffusers scheduler, feeding the exact epsilon at the scheduler's own noise level."""
    scheduler.set_timesteps(nfe)
    acp = scheduler.alphas_cumprod.double()
    has_sigmas = hasattr(scheduler, "sigmas") and scheduler.sigmas is not None
    x = setup.x_T.clone()
    for i, t in enumerate(scheduler.timesteps):
        if has_sigmas:  # sigma here is diffusers' sqrt((1 - acp) / acp), the VE-form noise level
            ve_sigma = scheduler.sigmas[i].double().item()
            alpha = 1.0 / math.sqrt(1.0 + ve_sigma**2)
            sigma = ve_sigma * alpha
        else:
            alpha, sigma = math.sqrt(acp[t].item()), math.sqrt(1.0 - acp[t].item())
        x = scheduler.step(epsilon_model(setup.mixture, alpha, sigma, x), t, x).prev_sample
    return x


def diffusers_errors(setup: Setup, reference: Tensor) -> list[dict]:
    rows = []
    for name, (cls, grid, config) in diffusers_configs().items():
        for nfe in NFES:
            scheduler = cls(**config)
            torch.testing.assert_close(scheduler.alphas_cumprod, training_alphas_cumprod())
            x = run_diffusers(setup, scheduler, nfe)
            rows.append({"sampler": f"diffusers {name}", "grid": grid, "nfe_budget": nfe,
                         "nfe": len(scheduler.timesteps)} | error_stats(x, reference))
    return rows


def best_per_nfe(rows: list[dict]) -> dict[int, dict[str, dict]]:
    """For each NFE budget the most accurate headline row of each library."""
    best: dict[int, dict[str, dict]] = {}
    for row in rows:
        library = row["sampler"].split()[0]
        current = best.setdefault(row["nfe_budget"], {}).get(library)
        if current is None or row["rms_error"] < current["rms_error"]:
            best[row["nfe_budget"]][library] = row
    return best


def harness_check(setup: Setup, reference: Tensor, steps: int = 200) -> dict:
    """diffusers DDIM and our DDIM on the same grid (uniform in t, down to sigma = 0) must agree."""
    cls, _, config = diffusers_configs()["DDIM"]
    ours = setup.run("ddim", setup.grid(steps, "uniform", t_min=0.0), denoise_final=False).x
    return {"steps": steps, "diffusers_ddim": rms(run_diffusers(setup, cls(**config), steps), reference),
            "sciddm_ddim_uniform": rms(ours, reference)}


def fitted_order(nfes, errors) -> float:
    """Minus the least-squares slope of log(error) against log(NFE)."""
    return -float(np.polyfit(np.log(nfes), np.log(errors), 1)[0])


def convergence_order(setup: Setup, reference_steps: int) -> dict:
    """dpmpp_2m to ``T_END`` with no final x0 step, against a reference that stops there too.

    Besides the RMS error (dominated, at small NFE, by the few trajectories that end in a different mixture
    component) it reports the median over samples of the per-sample RMS error; orders are fitted over the last
    three NFEs, where every trajectory has settled in its final component.
    """
    reference = setup.reference(reference_steps, to_zero=False)
    rms_errors, median_errors = [], []
    for nfe in ORDER_NFES:
        squared = (setup.run("dpmpp_2m", setup.grid(nfe, "log_snr"), denoise_final=False).x - reference).pow(2)
        rms_errors.append(squared.mean().sqrt().item())
        median_errors.append(squared.mean(1).sqrt().median().item())
    tail = slice(-3, None)
    return {"nfe": list(ORDER_NFES), "rms_error": rms_errors, "median_sample_error": median_errors,
            "fitted_order_rms": fitted_order(ORDER_NFES[tail], rms_errors[tail]),
            "fitted_order_median": fitted_order(ORDER_NFES[tail], median_errors[tail])}


def end_point_study(setup: Setup, reference: Tensor) -> list[dict]:
    """Our multistep solvers stopping at other end log-SNRs before the final x0 evaluation (sensitivity only)."""
    rows = []
    for end in END_LOG_SNRS:
        t_min = setup.path.schedule.t_from_log_snr(torch.tensor(end)).item()
        for solver in ("dpmpp_2m", "dpmpp_3m", "unipc"):
            for kind in ("log_snr", "uniform"):
                for nfe in NFES:
                    result = setup.run(solver, setup.grid(steps_for(solver, nfe), kind, t_min))
                    rows.append({"sampler": f"sciddm {solver}", "grid": f"{kind} to lambda={end:g}",
                                 "nfe_budget": nfe, "nfe": result.nfe, "rms_error": rms(result.x, reference)})
    return rows


def to_zero_study(setup: Setup, reference: Tensor) -> list[dict]:
    """Multistep solvers on a uniform-t grid down to t = 0 exactly: sigma(0) = 0 for VP-linear, so the last step
    returns the x0 estimate and NFE = steps; the last noisy point, t = 1/NFE, moves with NFE as diffusers'
    ``linspace`` timesteps do."""
    rows = []
    for solver in ("dpmpp_2m", "dpmpp_3m", "unipc", "unipc_3m"):
        for nfe in NFES:
            grid = time_grid(setup.path.schedule, nfe, "uniform", t_max=setup.t_start, t_min=0.0)
            result = setup.run(solver, grid)
            rows.append({"sampler": f"sciddm {solver}", "grid": "uniform t to 0", "nfe_budget": nfe,
                         "nfe": result.nfe, **error_stats(result.x, reference)})
    return rows


class MLPDenoiser(nn.Module):
    """A plain MLP on ``[x, t]`` with three hidden layers of ``width`` (the overhead yardstick)."""

    def __init__(self, dim: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(), nn.Linear(width, dim))

    def forward(self, x: Tensor, t: float) -> Tensor:
        return self.net(torch.cat([x, torch.full_like(x[:, :1], t)], dim=1))


def width_for(dim: int, parameters: int = 1_000_000) -> int:
    """Hidden width giving about ``parameters`` weights: 2w^2 + (2D + 4)w + D = parameters."""
    b = 2 * dim + 4
    return round((-b + math.sqrt(b * b + 8 * (parameters - dim))) / 4)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def overhead(setup: Setup, dim: int, batch: int = 1024, steps: int = 50, repeats: int = 7) -> dict:
    model = MLPDenoiser(dim, width_for(dim)).eval()
    x = torch.randn(batch, dim)
    with torch.inference_mode():
        forward = median_seconds(lambda: model(x, 0.5), repeats=15)
    rows = {}
    for solver, kind in OUR_SOLVERS.items():
        grid = setup.grid(steps, kind)
        nfe = steps * make_solver(solver).evals_per_step
        loop = median_seconds(lambda s=solver, g=grid: solve(setup.path, make_solver(s), lambda z, t: z, x, g),
                              repeats)
        rows[solver] = {"seconds_per_eval": loop / nfe, "fraction_of_forward": loop / nfe / forward}
    return {"mlp_parameters": sum(p.numel() for p in model.parameters()), "batch": batch,
            "mlp_forward_seconds": forward, "solvers": rows}


def error_table(rows: list[dict], key: str = "rms_error") -> str:
    by_sampler: dict[tuple[str, str], dict[int, dict]] = {}
    for row in rows:
        by_sampler.setdefault((row["sampler"], row["grid"]), {})[row["nfe_budget"]] = row
    header = f"| sampler | grid | {' | '.join(f'NFE {n}' for n in NFES)} |"
    lines = [header, "|" + "---|" * (2 + len(NFES))]
    for (sampler, grid), cells in by_sampler.items():
        values = []
        for n in NFES:
            cell = cells[n]
            note = "" if cell["nfe"] == n else f" ({cell['nfe']})"
            values.append(f"{cell[key]:.3g}{note}")
        lines.append(f"| {sampler} | {grid} | {' | '.join(values)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--reference-steps", type=int, default=2000)
    parser.add_argument("--all-grids", action="store_true", help="also run every solver on every grid")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    setup = Setup(args.dim, args.components, args.seed, args.samples)
    reference = setup.reference(args.reference_steps, to_zero=True)
    reference_error = rms(reference, setup.reference(2 * args.reference_steps, to_zero=True))
    runs = ([(s, k) for s in OUR_SOLVERS for k in ("uniform", "log_snr", "edm")] if args.all_grids
            else list(OUR_SOLVERS.items()))
    rows = our_errors(setup, reference, runs)
    try:
        rows += diffusers_errors(setup, reference)
        check = harness_check(setup, reference)
        diffusers_version = __import__("diffusers").__version__
    except ImportError:
        check, diffusers_version = None, None
    report = {
        "config": vars(args) | {"log_snr_start": setup.log_snr_start, "beta_max": setup.beta_max, "t_end": T_END,
                                "diffusers": diffusers_version, "torch": torch.__version__},
        "reference_error_vs_double_steps": reference_error,
        "data_rms": setup.mixture.sample(args.samples, torch.Generator().manual_seed(0)).pow(2).mean().sqrt().item(),
        "errors": rows,
        "best": best_per_nfe(rows),
        "harness_check": check,
        "end_point_study": end_point_study(setup, reference),
        "to_zero_study": to_zero_study(setup, reference),
        "dpmpp_2m_order": convergence_order(setup, args.reference_steps),
        "overhead": overhead(setup, args.dim),
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return report


def print_report(report: dict) -> None:
    config = report["config"]
    print(f"Gaussian mixture: D={config['dim']}, K={config['components']}, seed={config['seed']}, "
          f"{config['samples']} samples, data RMS {report['data_rms']:.3f}; diffusers {config['diffusers']}")
    print(f"start log-SNR {config['log_snr_start']:.4f} (our VPLinear(0.1, {config['beta_max']:.4f}) at t=1), "
          f"end sigma = 0; "
          f"reference error (vs 2x steps) {report['reference_error_vs_double_steps']:.2e}\n")
    print("RMS error vs reference (actual NFE in brackets where below the budget)")
    print(error_table(report["errors"]))
    print("\nMedian over samples of the per-sample RMS error")
    print(error_table(report["errors"], "median_error"))
    ours = [r for r in report["errors"] if r["sampler"] in {f"sciddm {s}" for s in OUR_SOLVERS}]
    two_m = [r["rms_error"] for r in ours if r["sampler"] == "sciddm dpmpp_2m" and r["grid"] == "log_snr"]
    if len(two_m) == len(NFES):
        print(f"\ndpmpp_2m (log_snr, to sigma=0) fitted order over NFE {NFES[1:]}: "
              f"{fitted_order(NFES[1:], two_m[1:]):.2f}")
    print("\nBest per NFE: " + "; ".join(
        f"{nfe}: " + ", ".join(f"{r['sampler']} ({r['grid']}) {r['rms_error']:.3g}" for r in libs.values())
        for nfe, libs in report["best"].items()))
    if report["harness_check"]:
        check = report["harness_check"]
        print(f"\nHarness check, DDIM with {check['steps']} steps uniform in t to sigma=0: diffusers "
              f"{check['diffusers_ddim']:.5f}, sciddm {check['sciddm_ddim_uniform']:.5f}")
    print("\nEnd-point sensitivity: our multistep solvers stopping earlier before the final x0 evaluation")
    print(error_table(report["end_point_study"]))
    print("\nUniform t grid down to t = 0 (the last step returns x0; NFE = steps): RMS, then median")
    print(error_table(report["to_zero_study"]))
    print(error_table(report["to_zero_study"], "median_error"))
    order = report["dpmpp_2m_order"]
    print("\ndpmpp_2m on log_snr to t_min (no final x0 step) vs a reference stopped there")
    print("| NFE | " + " | ".join(map(str, order["nfe"])) + " | fitted order (last 3) |")
    print("|---" * (len(order["nfe"]) + 2) + "|")
    for key, label in (("rms_error", "rms"), ("median_sample_error", "median")):
        print(f"| {label} error | " + " | ".join(f"{e:.3g}" for e in order[key])
              + f" | {order['fitted_order_' + label]:.2f} |")
    over = report["overhead"]
    print(f"\nOverhead: MLP {over['mlp_parameters']:,} parameters, batch {over['batch']}, forward "
          f"{1e3 * over['mlp_forward_seconds']:.2f} ms (1 thread)")
    print("| solver | loop time per evaluation (ms) | fraction of MLP forward |\n|---|---|---|")
    for solver, row in over["solvers"].items():
        print(f"| {solver} | {1e3 * row['seconds_per_eval']:.3f} | {100 * row['fraction_of_forward']:.2f}% |")


if __name__ == "__main__":
    main()
