r"""The joint diffusion state of a 3D molecule: one Gaussian and three categorical fields.

======================  =============================================  ===========================================
field                   path                                           loss (weight)
======================  =============================================  ===========================================
``pos`` [B, N, 3]       Gaussian, VP cosine, in the zero-centre-of-    x0-MSE over real atoms (3.0)
                        mass subspace over ``node_mask``
``atom_types`` [B, N]   categorical, marginal prior (training          cross-entropy over real atoms (0.4)
                        frequencies), cosine keep schedule
``charges`` [B, N]      categorical, marginal prior, cosine            cross-entropy over real atoms (1.0)
``bonds`` [B, N, N]     categorical over all atom pairs, symmetric,    cross-entropy over real pairs, each once (2.0)
                        marginal prior ("none" included), cosine
======================  =============================================  ===========================================

The weights are MiDi's (Vignac et al. 2023, :math:`\lambda_x=3, \lambda_a=0.4, \lambda_c=1, \lambda_e=2`), which
EQGAT-diff (Le et al. 2024) keeps; both predict the clean molecule (x0) for every field and train the
categorical fields with the cross-entropy on :math:`p_\theta(x_0\mid x_t)`. All fields share one diffusion
time per molecule. Atom counts are drawn from the training distribution by
:meth:`domains.molecules.data.MoleculeDataModule.sample_template` (or fixed there).

``QM9_MARGINALS`` are the class frequencies of the QM9 training split (99,998 molecules, EDM split, seed 0),
as printed by ``python -m domains.molecules.representation``: the default of :func:`molecule_fields` for Python
use. The configs instead set ``marginal: data`` and have the module count them on their training split.
"""

from __future__ import annotations

import torch

from domains.molecules.elements import NUM_BOND_TYPES
from sciddm.categorical_fields import CategoricalField
from sciddm.fields import Field, GaussianField
from sciddm.paths.categorical import Cosine
from sciddm.schedules import VPCosine

LOSS_WEIGHTS = {"pos": 3.0, "atom_types": 0.4, "charges": 1.0, "bonds": 2.0}
QM9_MARGINALS = {
    "atom_types": (0.512391, 0.352797, 0.055852, 0.077672, 0.001287),
    "charges": (0.000245, 0.99951, 0.000245),
    "bonds": (0.881899, 0.106049, 0.004399, 0.001776, 0.005877),
}


def molecule_fields(marginals: dict[str, torch.Tensor | tuple[float, ...]] = QM9_MARGINALS,
                    weights: dict[str, float] = LOSS_WEIGHTS) -> dict[str, Field]:
    """The four fields of the table above, with the given class ``marginals`` as categorical priors."""
    def categorical(name: str, symmetric: bool = False) -> CategoricalField:
        marginal = [float(p) for p in marginals[name]]
        return CategoricalField(len(marginal), prior="marginal", schedule=Cosine(), marginal=marginal,
                                loss="cross_entropy", symmetric=symmetric, mask_key="node_mask",
                                weight=weights[name])

    if len(marginals["bonds"]) != NUM_BOND_TYPES:
        raise ValueError(f"bond marginals need {NUM_BOND_TYPES} classes, got {len(marginals['bonds'])}")
    return {
        "pos": GaussianField(VPCosine(), prediction="x0", weighting="target", zero_com=True,
                             mask_key="node_mask", weight=weights["pos"]),
        "atom_types": categorical("atom_types"),
        "charges": categorical("charges"),
        "bonds": categorical("bonds", symmetric=True),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the training-split marginals of QM9 (``QM9_MARGINALS``; with options, those of a subset, e.g.
    ``--max_molecules 3000 --remove_hydrogens`` for ``qm9_quick.yaml``'s)."""
    import argparse

    from domains.molecules.data import MoleculeDataModule

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--max_molecules", type=int, default=None)
    parser.add_argument("--remove_hydrogens", action="store_true")
    parser.add_argument("--train_half", default=None)
    args = parser.parse_args(argv)
    data = MoleculeDataModule(max_molecules=args.max_molecules, remove_hydrogens=args.remove_hydrogens,
                              train_half=args.train_half)
    for name, values in data.marginals.items():
        print(f"{name}: [{', '.join(f'{v:.6f}' for v in values.tolist())}]")


if __name__ == "__main__":
    main()
