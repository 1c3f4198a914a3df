r"""Reward-guided design: ``sciddm guide`` and its Python API.

::

    sciddm guide --config CFG --ckpt_path CKPT --reward SPEC --method METHOD --num_samples N --output PATH
                 [--reward_args JSON] [--particles K] [--temperature a] [--scale w] [--condition C]
                 [--steps S] [--solver NAME] [--batch_size B] [--nelbo_times T] [--seed S]

**Reward spec.** ``SPEC`` is ``package.module:callable``; the callable is called with the keyword arguments of
``--reward_args`` (a JSON object) and must return a :class:`sciddm.rewards.Reward` (samples dict + context ->
tensor [B]; ``differentiable`` says whether it accepts probability vectors / continuous values with gradients).
Example: ``benchmarks.dna_design:oracle_reward`` with ``--reward_args '{"path": "oracle.pt"}'``.

**Methods** (cost per returned sample in network evaluations / reward evaluations, P = ``--particles``):

* ``none``: plain sampling (NFE / 0);
* ``best_of_n``: best of P independent samples (P NFE / P);
* ``smc``: SMC with ESS resampling at temperature :math:`\alpha` (``--temperature``, default 1);
* ``svdd``: value-based decoding with P candidates per step (``--temperature`` 0 = greedy, the default);
* ``tds``: twisted SMC with gradient proposals (needs a differentiable reward);
* ``cfg``: classifier-free guidance at scale ``--scale`` with ``context["label"] = --condition`` (the reward only
  scores the result);
* ``gradient``: reward-gradient guidance with step ``--scale``: through :math:`\hat x_0` for continuous fields
  (:class:`~sciddm.guidance.gradient.GradientGuidance`), the first-order tilt for categorical fields
  (:class:`~sciddm.guidance.categorical_gradient.CategoricalGradientGuidance`); needs a differentiable reward.
  A config's ``cached`` categorical solver is replaced by ``ancestral`` here (the cache would skip the guidance).

**Outputs.** ``PATH`` in the domain's format (the datamodule's ``write_samples``); ``PATH.scores.csv`` (one row per
design: index, reward, NELBO bits/token when every field is categorical, from :mod:`sciddm.likelihood`; empty
otherwise); ``PATH.scores.json`` (settings, summary statistics, costs); ``PATH.reward.png`` (reward against the
NELBO, or a reward histogram). Everything is checked and sampled before anything is written: a bad method, a
reward that returns NaN or the wrong shape, or a non-differentiable reward given to ``gradient``/``tds`` stops with a
one-line error and writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sciddm.errors import ConfigError, choose
from sciddm.rewards import Reward, load_reward

METHODS = ("none", "best_of_n", "smc", "svdd", "tds", "cfg", "gradient")
GRADIENT_METHODS = ("tds", "gradient")


class CountingReward(Reward):
    """Counts the calls of a reward (each call scores every row of its batch once)."""

    def __init__(self, reward: Reward):
        self.reward = reward
        self.differentiable = reward.differentiable
        self.name = reward.name
        self.calls = 0

    def __call__(self, samples, context):
        self.calls += 1
        return self.reward(samples, context)


@dataclass
class GuideSettings:
    """What to run: the method and its knobs (see the module docstring)."""

    method: str
    particles: int = 8
    temperature: float | None = None
    scale: float = 1.0
    condition: float | None = None

    def __post_init__(self) -> None:
        choose(self.method, dict.fromkeys(METHODS), "guidance method")
        if self.particles < 1:
            raise ConfigError(f"particles must be >= 1, got {self.particles}")
        if self.method == "cfg" and self.condition is None:
            raise ConfigError("method 'cfg' needs --condition (the label to guide toward)")


def check_reward(reward: Reward, settings: GuideSettings) -> None:
    if settings.method in GRADIENT_METHODS and not reward.differentiable:
        raise ConfigError(f"method {settings.method!r} needs a differentiable reward; {reward.name!r} is not")


def guided_batch(module, template, context, reward: Reward, settings: GuideSettings, sampler, generator):
    """Run one batch of ``settings.method``; return :class:`~sciddm.guidance.particles.GuidedSamples`."""
    import torch

    from sciddm.categorical_fields import CategoricalField
    from sciddm.guidance import ClassifierFreeGuidance, GradientGuidance, GuidedSamples, best_of_n, smc, svdd
    from sciddm.guidance.categorical_gradient import CategoricalGradientGuidance
    from sciddm.guidance.tds import tds
    from sciddm.rewards import score
    from sciddm.sampling import sample_fields

    check_reward(reward, settings)
    network, fields = module.sampling_network.eval(), module.fields
    if settings.condition is not None:
        label = context.get("label")
        dtype = label.dtype if label is not None else torch.long
        context = {**context, "label": torch.full((len(next(iter(template.values()))),), settings.condition,
                                                  dtype=dtype, device=module.device)}
    counted = CountingReward(reward)
    method, particles = settings.method, settings.particles
    common = dict(generator=generator)
    with torch.no_grad():
        if method == "best_of_n":
            return best_of_n(network, fields, template, context, sampler, counted, particles, **common)
        if method == "smc":
            return smc(network, fields, template, context, sampler, counted, particles,
                       settings.temperature or 1.0, **common)
        if method == "svdd":
            return svdd(network, fields, template, context, sampler, counted, particles,
                        settings.temperature or 0.0, **common)
        if method == "tds":
            return tds(network, fields, template, context, sampler, counted, particles, settings.temperature or 1.0,
                       **common)
        wrapper, guidance = None, []
        if method == "cfg":
            wrapper = lambda net: ClassifierFreeGuidance(net, settings.scale)  # noqa: E731
        if method == "gradient":
            for name, field in fields.items():
                if isinstance(field, CategoricalField):
                    guidance.append(CategoricalGradientGuidance(name, counted, settings.scale, context))
                else:
                    guidance.append(GradientGuidance(name, lambda est: -counted(est, context), settings.scale))
        samples, nfe = sample_fields(network, fields, template, context, sampler, generator, guidance=guidance,
                                     network_wrapper=wrapper)
        calls = counted.calls
        rewards = score(reward, samples, context, len(next(iter(samples.values()))))
    return GuidedSamples(samples, rewards, float(nfe), float(calls))


def naturalness(module, samples, context, num_times: int, generator):
    """NELBO bits/token [B] under the model when every field is categorical, else None."""
    from sciddm.categorical_fields import CategoricalField
    from sciddm.likelihood import nelbo_bits_per_token

    if num_times < 1 or not all(isinstance(f, CategoricalField) for f in module.fields.values()):
        return None
    return nelbo_bits_per_token(module, (samples, context), num_times, generator)


def without_cache(spec: str) -> str:
    """The categorical solver ``spec`` with ``cached`` replaced by ``ancestral``, its options kept: the cache would
    reuse unguided outputs, so gradient guidance needs every step evaluated."""
    name, sep, options = spec.partition(":")
    return f"ancestral{sep}{options}" if name.strip() == "cached" else spec


def guide(config: str | Path, ckpt_path: str | Path, reward: Reward, settings: GuideSettings, num_samples: int,
          steps: int | None = None, solver: str | None = None, batch_size: int | None = None, seed: int = 0,
          nelbo_times: int = 8) -> dict[str, Any]:
    """Load the model, draw ``num_samples`` guided designs and score them; returns a dict with ``samples``,
    ``context``, ``rewards``, ``nelbo`` (or None), the per-sample costs and the datamodule. Writes nothing."""
    import torch

    from sciddm.checkpoints import load_model, pad_and_concat
    from sciddm.lightning.data import DiffusionDataModule
    from sciddm.sampling import Sampler

    if num_samples < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    check_reward(reward, settings)
    module, datamodule, _ = load_model(config, ckpt_path)
    if not isinstance(datamodule, DiffusionDataModule):
        raise ConfigError(f"{config}: the data module must be a DiffusionDataModule to lay out and write samples")
    overrides = {k: v for k, v in {"steps": steps, "solver": solver}.items() if v is not None}
    sampler = Sampler(**{**vars(module.sampler), **overrides})
    if settings.method == "gradient":
        sampler = Sampler(**{**vars(sampler), "categorical_solver": without_cache(sampler.categorical_solver)})
    generator = torch.Generator().manual_seed(seed)
    template, context = datamodule.sample_template(num_samples, generator)
    size = batch_size or num_samples
    parts, costs = [], []
    for start in range(0, num_samples, size):
        rows = slice(start, min(start + size, num_samples))
        part = guided_batch(module, {k: v[rows] for k, v in template.items()},
                            {k: v[rows] for k, v in context.items()}, reward, settings, sampler, generator)
        parts.append(part)
        costs.append((part.network_evaluations, part.reward_evaluations))
    samples = {k: pad_and_concat([p.samples[k] for p in parts]) for k in parts[0].samples}
    rewards = torch.cat([p.rewards for p in parts]).detach()
    nelbo = naturalness(module, samples, context, nelbo_times, generator)
    return {"samples": samples, "context": context, "rewards": rewards, "nelbo": nelbo, "datamodule": datamodule,
            "network_evaluations_per_sample": max(c[0] for c in costs),
            "reward_evaluations_per_sample": max(c[1] for c in costs)}


def summary(values) -> dict[str, float]:
    import numpy as np

    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "median": float(np.median(values)), "min": float(values.min()),
            "max": float(values.max())}


def write_outputs(result: dict[str, Any], output: Path, settings: GuideSettings, reward_name: str,
                  extra: dict[str, Any]) -> dict[str, Path]:
    """Designs, scores (CSV + JSON) and the reward picture next to ``output``."""
    from sciddm.io import atomic_write, write_json

    datamodule = result["datamodule"]
    output = Path(output)
    if not output.suffix:
        output = output.with_suffix(datamodule.sample_suffix)
    rewards = result["rewards"].cpu().tolist()
    nelbo = None if result["nelbo"] is None else result["nelbo"].cpu().tolist()
    written = {"designs": datamodule.write_samples(result["samples"], result["context"], output)}
    written["scores"] = output.with_suffix(".scores.csv")
    with atomic_write(written["scores"], newline="") as handle:
        table = csv.writer(handle)
        table.writerow(["index", "reward", "nelbo_bits_per_token"])
        for i, value in enumerate(rewards):
            table.writerow([i, f"{value:.6g}", "" if nelbo is None else f"{nelbo[i]:.6g}"])
    report = {"method": settings.method, "particles": settings.particles, "temperature": settings.temperature,
              "scale": settings.scale, "condition": settings.condition, "reward": reward_name,
              "num_samples": len(rewards), "reward_summary": summary(rewards),
              "nelbo_bits_per_token_summary": None if nelbo is None else summary(nelbo),
              "network_evaluations_per_sample": result["network_evaluations_per_sample"],
              "reward_evaluations_per_sample": result["reward_evaluations_per_sample"], **extra}
    written["report"] = output.with_suffix(".scores.json")
    write_json(written["report"], report)
    written["picture"] = plot_rewards(rewards, nelbo, output.with_suffix(".reward.png"), settings.method)
    return written


def plot_rewards(rewards: list[float], nelbo: list[float] | None, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sciddm.io import atomic_path

    fig, ax = plt.subplots(figsize=(5, 4))
    if nelbo is None:
        ax.hist(rewards, bins=max(5, int(math.sqrt(len(rewards)))))
        ax.set_xlabel("reward")
        ax.set_ylabel("designs")
    else:
        ax.scatter([-v for v in nelbo], rewards, s=8, alpha=0.7)
        ax.set_xlabel("log-likelihood bound (-NELBO, bits/token)")
        ax.set_ylabel("reward")
    ax.set_title(f"{title}: {len(rewards)} designs")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def run_guide(argv: Sequence[str]) -> int:
    """``sciddm guide`` (module docstring)."""
    parser = argparse.ArgumentParser(prog="sciddm guide", description="Reward-guided design from a trained model.")
    parser.add_argument("--config", required=True, help="the training config (YAML)")
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by 'sciddm fit'")
    parser.add_argument("--reward", required=True, help="package.module:callable returning a sciddm Reward")
    parser.add_argument("--reward_args", default="{}", help="JSON object of keyword arguments for the callable")
    parser.add_argument("--method", required=True, help=f"one of: {', '.join(METHODS)}")
    parser.add_argument("--num_samples", type=int, default=64)
    parser.add_argument("--particles", type=int, default=8, help="particles / candidates / N of best-of-N")
    parser.add_argument("--temperature", type=float, default=None, help="alpha of exp(r/alpha)")
    parser.add_argument("--scale", type=float, default=1.0, help="CFG scale or gradient step")
    parser.add_argument("--condition", type=float, default=None, help="label for cfg")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--solver", default=None, help="continuous solver (particle methods need e.g. ddpm)")
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--nelbo_times", type=int, default=8, help="Monte Carlo times of the NELBO (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="designs file; scores and picture go beside it")
    args = parser.parse_args(argv)
    settings = GuideSettings(args.method, args.particles, args.temperature, args.scale, args.condition)
    try:
        reward_args = json.loads(args.reward_args)
    except json.JSONDecodeError:
        raise ConfigError(f"--reward_args must be a JSON object, got {args.reward_args!r}") from None
    if not isinstance(reward_args, dict):
        raise ConfigError(f"--reward_args must be a JSON object, got {args.reward_args!r}")
    reward = load_reward(args.reward, reward_args)
    result = guide(args.config, args.ckpt_path, reward, settings, args.num_samples, args.steps, args.solver,
                   args.batch_size, args.seed, args.nelbo_times)
    written = write_outputs(result, Path(args.output), settings, reward.name,
                            {"reward_spec": args.reward, "reward_args": reward_args, "seed": args.seed})
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0
