"""Building blocks shared by the molecule denoisers: masks, distances, input embedding, output heads.

The time embedding is the core's :class:`sciddm.nn.SinusoidalTimeEmbedding` (sinusoids of 1000 t + MLP)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sciddm.nn import SinusoidalTimeEmbedding


def mlp(*sizes: int, final_activation: bool = False) -> nn.Sequential:
    """Linear layers with SiLU in between (and after the last one if ``final_activation``)."""
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2 or final_activation:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def pair_mask(node_mask: Tensor) -> Tensor:
    """[B, N, N] bool: both atoms real and distinct (a fully connected graph within each molecule)."""
    eye = torch.eye(node_mask.shape[1], dtype=torch.bool, device=node_mask.device)
    return node_mask[:, :, None] & node_mask[:, None, :] & ~eye


def masked_mean(x: Tensor, node_mask: Tensor) -> Tensor:
    """Mean of ``x`` [B, N, D] over the real atoms, shape [B, 1, D]."""
    weights = node_mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)


def distances(x: Tensor, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Relative vectors x_i - x_j [B, N, N, 3] and distances sqrt(|x_i - x_j|^2 + eps) [B, N, N, 1].

    The ``eps`` keeps gradients finite on the diagonal and between coinciding (e.g. padded) atoms."""
    rel = x[:, :, None] - x[:, None, :]
    return rel, (rel.pow(2).sum(dim=-1, keepdim=True) + eps).sqrt()


def symmetrise(x: Tensor) -> Tensor:
    """(x + x^T) / 2 over the two atom axes of an edge tensor [B, N, N, ...]."""
    return 0.5 * (x + x.transpose(1, 2))


class InputEmbedding(nn.Module):
    """Invariant node features from (noisy) atom-type and charge distributions, the time and, with
    ``condition_key``, a scalar condition ``context[condition_key]`` [B] (``NaN`` = no condition: the
    classifier-free-guidance null, seen as the pair (0, 1) instead of (c, 0)); edge features from the (noisy,
    symmetrised) bond distribution."""

    def __init__(self, num_atom_types: int, num_charges: int, num_bond_types: int, hidden_dim: int,
                 edge_dim: int, time_dim: int, condition_key: str | None = None):
        super().__init__()
        self.time = SinusoidalTimeEmbedding(time_dim)
        self.condition_key = condition_key
        extra = 2 if condition_key is not None else 0
        self.node = mlp(num_atom_types + num_charges + time_dim + extra, hidden_dim, hidden_dim)
        self.edge = mlp(num_bond_types, edge_dim, edge_dim)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        atoms = x_t["atom_types"]
        per_sample = [self.time(t).to(atoms.dtype)]
        if self.condition_key is not None:
            condition = context[self.condition_key].to(atoms.dtype)
            null = torch.isnan(condition)
            per_sample.append(torch.stack([condition.nan_to_num(0.0), null.to(atoms.dtype)], dim=-1))
        per_atom = torch.cat(per_sample, dim=-1)[:, None, :].expand(atoms.shape[0], atoms.shape[1], -1)
        h = self.node(torch.cat([atoms, x_t["charges"], per_atom], dim=-1))
        return h, self.edge(symmetrise(x_t["bonds"]))


class OutputHeads(nn.Module):
    """Raw outputs: positions (equivariant), logits for atom types and charges (invariant, per atom) and
    bonds (invariant, symmetric in i, j).

    Positions: the final coordinates ``x_L`` moved so that their mean over real atoms equals that of the input
    ``x_t`` (translation-equivariant, zero-CoM when the input is); with ``predict_displacement`` instead the
    zero-CoM displacement ``x_L - x_t`` (translation-invariant). Padding entries are zero.
    """

    def __init__(self, num_atom_types: int, num_charges: int, num_bond_types: int, hidden_dim: int,
                 edge_dim: int, predict_displacement: bool = False):
        super().__init__()
        self.atom_types = mlp(hidden_dim, hidden_dim, num_atom_types)
        self.charges = mlp(hidden_dim, hidden_dim, num_charges)
        self.bonds = mlp(edge_dim + hidden_dim + 1, edge_dim, num_bond_types)
        self.predict_displacement = predict_displacement

    def forward(self, h: Tensor, e: Tensor, x: Tensor, x_t: Tensor, node_mask: Tensor) -> dict[str, Tensor]:
        mask = node_mask.unsqueeze(-1).to(h.dtype)
        if self.predict_displacement:
            delta = x - x_t
            pos = delta - masked_mean(delta, node_mask)
        else:
            pos = x - masked_mean(x, node_mask) + masked_mean(x_t, node_mask)
        pair = torch.cat([e, h[:, :, None] + h[:, None, :], distances(x)[1]], dim=-1)
        pairs = pair_mask(node_mask).unsqueeze(-1).to(h.dtype)
        return {
            "pos": pos * mask,
            "atom_types": self.atom_types(h) * mask,
            "charges": self.charges(h) * mask,
            "bonds": symmetrise(self.bonds(pair)) * pairs,
        }
