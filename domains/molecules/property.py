r"""An EGNN property predictor for QM9 (EDM's conditional-generation oracle) and its use as a reward.

EDM's protocol (Hoogeboom et al. 2022, Sec. 5.3, following Satorras et al. 2021): the QM9 training split is
cut in two halves; the property predictor :math:`\phi` is trained on the first, the conditional generator on
the second. Generated molecules are scored by the MAE :math:`\frac1n\sum_i|\phi(G_i) - c_i|` between the
predictor's estimate and the target :math:`c_i` each molecule was generated for. EDM's reference rows (on the
generator half with its true labels): *naive*, the predictor against shuffled labels (an upper bound);
*#atoms*, a predictor that only knows the atom count (the training mean of the property per atom count);
*QM9*, the predictor against the true labels (a lower bound).

The predictor reads positions and atom types only (no bonds, charges or hydrogens removed), like EDM's: an
embedding of the (one-hot or probability) atom types, ``num_layers`` :class:`~domains.molecules.denoisers.EGNNLayer`
blocks on the fully connected molecule (edge features start from a learned constant), and a sum over atoms of
an MLP, rescaled by the training ``mean`` and ``std``. It is E(3)-invariant and permutation-invariant. It is
trained with the L1 loss on the standardised property (EDM's choice).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from domains.molecules.data import MoleculeDataModule, MoleculeDataset
from domains.molecules.denoisers import EGNNLayer
from domains.molecules.layers import mlp, pair_mask
from domains.molecules.table import MoleculeTable
from sciddm.errors import DataError
from sciddm.io import atomic_path
from sciddm.rewards import ModelReward


class PropertyPredictor(nn.Module):
    """EGNN regressor ``(pos [B,N,3], atom_types [B,N] long or [B,N,K] float, node_mask [B,N]) -> [B]``."""

    def __init__(self, num_atom_types: int = 5, hidden_dim: int = 128, edge_dim: int = 16, num_layers: int = 7,
                 mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.config = {"num_atom_types": num_atom_types, "hidden_dim": hidden_dim, "edge_dim": edge_dim,
                       "num_layers": num_layers, "mean": mean, "std": std}
        self.embed = mlp(num_atom_types, hidden_dim, hidden_dim)
        self.edge = nn.Parameter(torch.zeros(edge_dim))
        self.layers = nn.ModuleList(EGNNLayer(hidden_dim, edge_dim) for _ in range(num_layers))
        self.readout = mlp(hidden_dim, hidden_dim, 1)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def standardised(self, pos: Tensor, atom_types: Tensor, node_mask: Tensor) -> Tensor:
        """The prediction of (property - mean) / std."""
        if not atom_types.is_floating_point():
            atom_types = F.one_hot(atom_types, self.config["num_atom_types"]).to(pos.dtype)
        pairs = pair_mask(node_mask)
        h = self.embed(atom_types)
        e = self.edge.expand(*pairs.shape, -1)
        x = pos
        for layer in self.layers:
            h, e, x = layer(h, e, x, pairs)
        return (self.readout(h).squeeze(-1) * node_mask.to(h.dtype)).sum(dim=1)

    def forward(self, pos: Tensor, atom_types: Tensor, node_mask: Tensor) -> Tensor:
        return self.standardised(pos, atom_types, node_mask) * self.std + self.mean

    def save(self, path: str | Path) -> None:
        """Weights and constructor arguments, atomically (read back with :meth:`load`, ``weights_only``)."""
        with atomic_path(Path(path)) as tmp:
            torch.save({"config": self.config, "state_dict": self.state_dict()}, tmp)

    @classmethod
    def load(cls, path: str | Path) -> PropertyPredictor:
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "property predictor file not found")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            predictor = cls(**payload["config"])
            predictor.load_state_dict(payload["state_dict"])
        except Exception as error:  # torch raises many types for corrupt or foreign files  # noqa: BLE001
            raise DataError(path, f"not a property predictor file ({type(error).__name__})") from None
        return predictor


def train_property_predictor(datamodule: MoleculeDataModule, predictor: PropertyPredictor, steps: int,
                             lr: float = 1e-3, seed: int = 0, log_every: int = 0) -> list[float]:
    """Adam on the L1 loss of the standardised property over ``datamodule``'s training batches (cycled) for
    ``steps`` steps; returns the loss of every step. ``datamodule.hparams.condition`` names the property."""
    torch.manual_seed(seed)
    name = datamodule.hparams.condition
    optimiser = torch.optim.Adam(predictor.parameters(), lr=lr)
    predictor.train()
    losses: list[float] = []
    while len(losses) < steps:
        for fields, context in datamodule.train_dataloader():
            target = (context[name].double() - predictor.mean.double()) / predictor.std.double()
            prediction = predictor.standardised(fields["pos"], fields["atom_types"], context["node_mask"])
            loss = (prediction - target.to(prediction.dtype)).abs().mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            if log_every and len(losses) % log_every == 0:
                print(f"step {len(losses)}: L1 (standardised) {sum(losses[-log_every:]) / log_every:.4f}", flush=True)
            if len(losses) == steps:
                break
    predictor.eval()
    return losses


@torch.no_grad()
def predict_table(predictor: PropertyPredictor, table: MoleculeTable, name: str, batch_size: int = 256
                  ) -> tuple[Tensor, Tensor]:
    """Predictions and true values of property ``name`` for every molecule of ``table`` (float64)."""
    dataset = MoleculeDataset(table)
    predicted, true = [], []
    for fields, context in DataLoader(dataset, batch_size=batch_size, collate_fn=dataset.collate):
        predicted.append(predictor(fields["pos"], fields["atom_types"], context["node_mask"]).double())
        true.append(context[name].double())
    return torch.cat(predicted), torch.cat(true)


def atom_count_baseline(train_counts: Tensor, train_values: Tensor, counts: Tensor) -> Tensor:
    """EDM's "#atoms" predictor: the mean training property of molecules with the same atom count (the overall
    training mean for counts never seen)."""
    prediction = torch.full(counts.shape, float(train_values.mean()), dtype=torch.float64)
    for n in counts.unique().tolist():
        seen = train_counts == n
        if seen.any():
            prediction[counts == n] = train_values[seen].double().mean()
    return prediction


class PropertyReward(ModelReward):
    """The predictor as a differentiable reward on samples: ``predictor(pos, atom_types, node_mask)``.

    Atom types may be class indices or probability vectors ``[B, N, K]`` (the first-order relaxation used by
    gradient guidance); the reward is in the property's units (e.g. bohr^3 for alpha)."""

    def __init__(self, predictor: PropertyPredictor, name: str = "property"):
        super().__init__(predictor, field="pos", name=name)

    def __call__(self, samples: dict[str, Tensor], context: dict[str, Tensor]) -> Tensor:
        return self.model(samples["pos"], samples["atom_types"], context["node_mask"])
