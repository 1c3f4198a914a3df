"""The ``sciddm`` command.

* ``sciddm fit|validate|test|predict --config FILE`` : LightningCLI; classes are chosen by ``class_path``,
  ``--print_config`` prints the resolved configuration.
* ``sciddm sample --config FILE --ckpt_path CKPT --num_samples N [--solver S --categorical_solver C --steps K --grid G
  --time_distortion D --resample R --resample_window LO HI] [--output PATH]`` :
  sample a trained model through ``Trainer.predict`` and write the domain's format, a picture and metrics.
* ``sciddm evaluate DOMAIN FILE [--reference FILE]`` : one JSON object of metrics on stdout.
* ``sciddm guide ...`` : reward-guided design (see :mod:`sciddm.design`).
* ``sciddm reconstruct|segment|complete ...`` : domain commands registered under the ``sciddm.commands``
  entry-point group (seismic reconstruction, medical segmentation, point-cloud completion).

User mistakes (bad files, unknown names, wrong types) print ``error: <message>`` on one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sciddm.design import run_guide
from sciddm.errors import DataError, SciDDMError

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def pop_option(argv: list[str], name: str) -> tuple[list[str], str | None]:
    """Remove ``--name VALUE`` or ``--name=VALUE`` from ``argv``; return the rest and the value."""
    rest, value, i = [], None, 0
    while i < len(argv):
        if argv[i] == name and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
            continue
        if argv[i].startswith(name + "="):
            value = argv[i].split("=", 1)[1]
        else:
            rest.append(argv[i])
        i += 1
    return rest, value


def run_lightning(command: str, argv: Sequence[str]) -> int:
    """``fit``/``validate``/``test``/``predict``: parse with LightningCLI, then call the Trainer method.

    ``--ckpt_path`` resumes training (``fit``) or selects the weights to evaluate; checkpoints are read with
    ``weights_only=True``.
    """
    from sciddm.checkpoints import build_cli

    args, ckpt_path = pop_option(list(argv), "--ckpt_path")
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise DataError(ckpt_path, "checkpoint not found")
    cli = build_cli(args)
    if any(a == "--print_config" or a.startswith("--print_config=") for a in args):
        return 0
    getattr(cli.trainer, command)(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path, weights_only=True)
    return 0


def run_sample(argv: Sequence[str]) -> int:
    from sciddm.checkpoints import sample_to_files

    parser = argparse.ArgumentParser(prog="sciddm sample", description="Sample a trained model.")
    parser.add_argument("--config", required=True, help="the training config (YAML)")
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by 'sciddm fit'")
    parser.add_argument("--num_samples", type=int, default=100)
    parser.add_argument("--solver", default=None, help="continuous solver (default: the config's)")
    parser.add_argument("--categorical_solver", default=None,
                        help="solver for categorical fields, e.g. ancestral, cached, remdm:eta=0.02 or "
                             "ancestral:temperature=0.8 (default: the config's)")
    parser.add_argument("--steps", type=int, default=None, help="solver steps (default: the config's)")
    parser.add_argument("--grid", default=None, help="time grid: uniform, log_snr or edm")
    parser.add_argument("--time_distortion", default=None,
                        help="re-spacing of the grid: identity, polydec, polyinc, cos or revcos (DeFoG)")
    parser.add_argument("--resample", type=int, default=None,
                        help="RePaint resamplings per step for steered (e.g. inpainting) sampling; single-step solvers")
    parser.add_argument("--resample_window", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="resample only the steps that start at a time in [LO, HI] (default: all)")
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="output file; its picture and metrics go beside it")
    args = parser.parse_args(argv)
    written = sample_to_files(args.config, args.ckpt_path, args.num_samples, Path(args.output), solver=args.solver,
                              steps=args.steps, grid=args.grid, resample=args.resample,
                              resample_window=args.resample_window, batch_size=args.batch_size,
                              seed=args.seed, time_distortion=args.time_distortion,
                              categorical_solver=args.categorical_solver)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def run_evaluate(argv: Sequence[str]) -> int:
    from sciddm.evaluation import available_evaluators, evaluate

    parser = argparse.ArgumentParser(prog="sciddm evaluate", description="Score a file of samples.")
    parser.add_argument("domain", help=f"one of: {', '.join(available_evaluators())}")
    parser.add_argument("file")
    parser.add_argument("--reference", default=None, help="reference samples (e.g. held-out data)")
    parser.epilog = "Other --KEY VALUE pairs (e.g. --mask MASK.npy) are passed to the domain's evaluator."
    args, extra = parser.parse_known_args(argv)
    options = {}
    while extra:
        key = extra.pop(0)
        if not key.startswith("--") or key == "--":
            raise SciDDMError(f"unexpected argument {key!r}; domain options are given as --KEY VALUE")
        key, sep, value = key[2:].partition("=")
        if not sep:
            if not extra:
                raise SciDDMError(f"option --{key} needs a value")
            value = extra.pop(0)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    print(json.dumps(evaluate(args.domain, args.file, args.reference, **options), sort_keys=True))
    return 0


def domain_commands() -> dict:
    """Commands that domains register under the ``sciddm.commands`` entry-point group."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="sciddm.commands")}


COMMANDS = {"sample": run_sample, "evaluate": run_evaluate, "guide": run_guide}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command in LIGHTNING_COMMANDS:
            return run_lightning(command, rest)
        if command in COMMANDS:
            return COMMANDS[command](rest)
        domain = domain_commands()
        if command in domain:
            return domain[command].load()(rest)
        return _fail(f"unknown command {command!r}; choose one of: "
                     f"{', '.join((*LIGHTNING_COMMANDS, *COMMANDS, *sorted(domain)))}")
    except SciDDMError as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
