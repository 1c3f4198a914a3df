"""Conditional generation on QM9 properties with EDM's protocol (see :mod:`domains.molecules.property`).

    python -m domains.molecules.conditional train-predictor --property alpha --steps 3000 --output alpha.pt
    sciddm fit --config configs/molecules/qm9_conditional.yaml          # generator on the second half
    python -m domains.molecules.conditional evaluate --config configs/molecules/qm9_conditional.yaml \\
        --ckpt_path CKPT --predictor alpha.pt --num_samples 1000 --guidance_scale 1.0 --output alpha.json

``evaluate`` samples with classifier-free guidance (:class:`sciddm.guidance.ClassifierFreeGuidance` on the
``condition`` context key, null value NaN; scale 1 = the plain conditional model, one network call per step)
for targets (and atom counts) drawn from the generator half, and writes one JSON object: the predictor's MAE
on the generated molecules, EDM's three reference rows on up to ``--num_samples`` generator-half molecules
(``naive_mae``: shuffled labels; ``atom_count_mae``: mean property per atom count; ``data_mae``: the
predictor on real molecules), and the usual molecule metrics of the samples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from domains.molecules.data import CONDITION_KEY, MoleculeDataModule
from domains.molecules.property import PropertyPredictor, atom_count_baseline, predict_table, train_property_predictor
from sciddm.errors import ConfigError, SciDDMError
from sciddm.guidance import ClassifierFreeGuidance
from sciddm.io import write_json


def train_predictor(args: argparse.Namespace) -> dict:
    data = MoleculeDataModule(max_molecules=args.max_molecules, batch_size=args.batch_size, seed=args.seed,
                              train_half="first", condition=args.property, remove_hydrogens=args.remove_hydrogens)
    mean, std = data.condition_stats
    predictor = PropertyPredictor(num_atom_types=data.vocabulary.num_atom_types, hidden_dim=args.hidden_dim,
                                  num_layers=args.num_layers, mean=mean, std=std)
    losses = train_property_predictor(data, predictor, args.steps, args.lr, args.seed, log_every=args.log_every)
    predicted, true = predict_table(predictor, data.tables["val"], args.property)
    predictor.save(args.output)
    return {"property": args.property, "steps": args.steps, "train_molecules": len(data.tables["train"]),
            "final_train_l1_standardised": sum(losses[-50:]) / len(losses[-50:]),
            "val_mae": float((predicted - true).abs().mean()), "val_molecules": len(true)}


def reference_rows(predictor: PropertyPredictor, data: MoleculeDataModule, first_half: MoleculeDataModule,
                   count: int, seed: int) -> dict:
    """EDM's naive / #atoms / QM9 rows on the first ``count`` molecules of the generator half."""
    table = data.tables["train"]
    rows = list(range(min(count, len(table))))
    predicted, true = predict_table(predictor, table.subset(rows), data.hparams.condition)
    shuffled = true[torch.randperm(len(true), generator=torch.Generator().manual_seed(seed))]
    by_count = atom_count_baseline(first_half.tables["train"].num_atoms, first_half.property_values("train"),
                                   table.num_atoms[rows])
    return {"naive_mae": float((predicted - shuffled).abs().mean()),
            "atom_count_mae": float((by_count - true).abs().mean()),
            "data_mae": float((predicted - true).abs().mean())}


def evaluate(args: argparse.Namespace) -> dict:
    from sciddm.checkpoints import load_model, load_weights

    module, data, _ = load_model(args.config)
    if not isinstance(data, MoleculeDataModule) or data.hparams.condition is None:
        raise ConfigError(f"{args.config} is not a conditional molecules config (data.condition is not set)")
    load_weights(module, args.ckpt_path)
    predictor = PropertyPredictor.load(args.predictor)
    name = data.hparams.condition
    generator = torch.Generator().manual_seed(args.seed)
    template, context = data.sample_template(args.num_samples, generator)
    wrapper = (lambda network: ClassifierFreeGuidance(network, args.guidance_scale, key=CONDITION_KEY,  # noqa: E731
                                                      null_value=float("nan")))
    samples, nfe = module.sample(template, context, generator=generator, network_wrapper=wrapper)
    with torch.no_grad():
        estimate = predictor(samples["pos"], samples["atom_types"], context["node_mask"]).double()
    h = data.hparams
    first_half = MoleculeDataModule(max_molecules=h.max_molecules, seed=h.seed, cache_dir=h.cache_dir,
                                    remove_hydrogens=h.remove_hydrogens, train_half="first", condition=name)
    first_half.setup()
    result = {"property": name, "guidance_scale": args.guidance_scale, "num_samples": args.num_samples,
              "nfe": nfe, "mae": float((estimate - context[name].double()).abs().mean()),
              **reference_rows(predictor, data, first_half, args.num_samples, args.seed),
              **data.evaluate_samples(samples, context)}
    if args.output:
        data.write_samples(samples, context, Path(args.output).with_suffix(".sdf"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train-predictor", help="train the EGNN property predictor on the first half")
    train.add_argument("--property", default="alpha")
    train.add_argument("--steps", type=int, default=3000)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--batch_size", type=int, default=128)
    train.add_argument("--hidden_dim", type=int, default=128)
    train.add_argument("--num_layers", type=int, default=7)
    train.add_argument("--max_molecules", type=int, default=None)
    train.add_argument("--remove_hydrogens", action="store_true", help="heavy atoms only (must match the generator)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--log_every", type=int, default=100)
    train.add_argument("--output", required=True)
    sample = commands.add_parser("evaluate", help="sample a conditional model and score it with the predictor")
    sample.add_argument("--config", required=True)
    sample.add_argument("--ckpt_path", required=True)
    sample.add_argument("--predictor", required=True)
    sample.add_argument("--num_samples", type=int, default=1000)
    sample.add_argument("--guidance_scale", type=float, default=1.0)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--output", default=None, help="JSON path; the samples go beside it as .sdf")
    args = parser.parse_args(argv)
    try:
        result = train_predictor(args) if args.command == "train-predictor" else evaluate(args)
    except SciDDMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output and args.command == "evaluate":
        write_json(Path(args.output).with_suffix(".json"), result)
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
