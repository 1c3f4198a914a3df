"""Molecule rewards for guidance and fine-tuning: QED, SA score and Crippen logP as float tensors.

Each reward maps a list of RDKit molecules (``None`` for an invalid molecule) or a dense ``(fields, context)``
batch to a float64 tensor [B]. Invalid molecules get a documented floor value instead of raising:

========  ==============================================  ==============  =======================
reward    definition                                      range           invalid molecule
========  ==============================================  ==============  =======================
qed       Bickerton et al. (2012), RDKit ``QED.qed``      [0, 1], higher  ``QED_FLOOR`` = 0.0
          better
sa_score  Ertl & Schuffenhauer (2009), RDKit Contrib      [1, 10], lower  ``SA_FLOOR`` = 10.0
          ``SA_Score/sascorer.py``                        better          (the worst score)
logp      Wildman & Crippen (1999), ``Crippen.MolLogP``   unbounded       ``LOGP_FLOOR`` = -10.0
========  ==============================================  ==============  =======================

Properties are computed on the sanitised molecule with hydrogens removed. :class:`MoleculeReward` wraps
them as :class:`sciddm.rewards.Reward` objects on samples (for best-of-N, SMC, SVDD); they are not
differentiable. The differentiable property-predictor reward is
:class:`domains.molecules.property.PropertyReward`.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen

from domains.molecules.batching import Fields, batch_to_molecules
from domains.molecules.elements import Vocabulary
from domains.molecules.validity import sanitized
from sciddm.errors import ConfigError
from sciddm.rewards import Reward

QED_FLOOR = 0.0
SA_FLOOR = 10.0
LOGP_FLOOR = -10.0


@functools.cache
def _sascorer():
    """RDKit's Contrib ``sascorer`` module, loaded from disk (it is not an importable package)."""
    path = Path(RDConfig.RDContribDir) / "SA_Score" / "sascorer.py"
    spec = importlib.util.spec_from_file_location("rdkit_contrib_sascorer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _score(mols: Sequence[Chem.Mol | None], function: Callable[[Chem.Mol], float], floor: float) -> torch.Tensor:
    values = [floor if mol is None else float(function(Chem.RemoveHs(mol))) for mol in mols]
    return torch.tensor(values, dtype=torch.float64)


def qed(mols: Sequence[Chem.Mol | None]) -> torch.Tensor:
    return _score(mols, QED.qed, QED_FLOOR)


def sa_score(mols: Sequence[Chem.Mol | None]) -> torch.Tensor:
    return _score(mols, _sascorer().calculateScore, SA_FLOOR)


def logp(mols: Sequence[Chem.Mol | None]) -> torch.Tensor:
    return _score(mols, Crippen.MolLogP, LOGP_FLOOR)


REWARDS = {"qed": qed, "sa_score": sa_score, "logp": logp}


def batch_reward(name: str, fields: Fields, context: Fields, vocabulary: Vocabulary,
                 implicit_hydrogens: bool = False) -> torch.Tensor:
    """Reward ``name`` of every molecule in a dense batch of class indices (invalid ones get the floor)."""
    mols = [sanitized(m, implicit_hydrogens) for m in batch_to_molecules(fields, context, vocabulary)]
    return REWARDS[name](mols)


CATEGORICAL_FIELDS = ("atom_types", "charges", "bonds")


class MoleculeReward(Reward):
    """``qed``, ``sa_score`` or ``logp`` of every sample in a dense batch, as a float32 tensor [B] on the samples'
    device (invalid molecules get the floor of the table above).

    Categorical fields may be class indices or probability vectors ``[..., K]`` (a particle method's clean
    estimate); probabilities are decoded by their most likely class. SA score is "lower is better": maximise
    ``WeightedSum([MoleculeReward("sa_score")], [-1.0])`` to prefer easy molecules.
    """

    differentiable = False

    def __init__(self, name: str = "qed", vocabulary: Vocabulary | None = None, implicit_hydrogens: bool = False):
        if name not in REWARDS:
            raise ConfigError(f"unknown molecule reward {name!r}; choose one of: {', '.join(REWARDS)}")
        self.name = name
        self.vocabulary = vocabulary or Vocabulary()
        self.implicit_hydrogens = implicit_hydrogens

    def __call__(self, samples: Fields, context: Fields) -> torch.Tensor:
        decoded = {k: v.argmax(-1) if k in CATEGORICAL_FIELDS and v.is_floating_point() else v
                   for k, v in samples.items()}
        values = batch_reward(self.name, decoded, context, self.vocabulary, self.implicit_hydrogens)
        return values.to(device=samples["pos"].device, dtype=torch.float32)
