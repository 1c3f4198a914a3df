"""Building blocks shared by the molecule denoisers: masks, distances, input embedding, output heads.

The time embedding is the core's :class:`sciddm.nn.SinusoidalTimeEmbedding` (sinusoids of 1000 t + MLP)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from sciddm.errors import ConfigError
from sciddm.nn import SinusoidalTimeEmbedding
from sciddm.self_conditioning import previous_estimate

if TYPE_CHECKING:
    from domains.molecules.sparse import MoleculeGraph


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
    r"""Invariant node features from (noisy) atom-type and charge distributions, the time and, with
    ``condition_key``, a scalar condition ``context[condition_key]`` [B] (``NaN`` = no condition: the
    classifier-free-guidance null, seen as the pair (0, 1) instead of (c, 0)); edge features from the (noisy,
    symmetrised) bond distribution.

    With ``self_conditioning`` (:mod:`sciddm.self_conditioning`) they also read the previous clean estimate:
    atom-type and charge probabilities at the nodes; at the edges the (symmetrised) bond probabilities and the
    distance :math:`\lVert \tilde x_{0,i} - \tilde x_{0,j} \rVert` between the estimated positions, which is
    invariant because the estimate is equivariant. Without an estimate they read zeros (the distance then reads
    :math:`\sqrt{\epsilon}`, the ``eps`` of :func:`distances`).
    """

    def __init__(self, num_atom_types: int, num_charges: int, num_bond_types: int, hidden_dim: int,
                 edge_dim: int, time_dim: int, condition_key: str | None = None, self_conditioning: bool = False):
        super().__init__()
        self.time = SinusoidalTimeEmbedding(time_dim)
        self.condition_key = condition_key
        self.self_conditioning = self_conditioning
        self.sizes = {"pos": 3, "atom_types": num_atom_types, "charges": num_charges, "bonds": num_bond_types}
        extra = 2 if condition_key is not None else 0
        estimate = 2 if self_conditioning else 1  # the noisy input, and the previous estimate
        self.node = mlp(estimate * (num_atom_types + num_charges) + time_dim + extra, hidden_dim, hidden_dim)
        self.edge = mlp(estimate * num_bond_types + (1 if self_conditioning else 0), edge_dim, edge_dim)

    def estimates(self, x_t: dict[str, Tensor], context: dict[str, Tensor]) -> dict[str, Tensor]:
        """The previous estimate of every field, dense, zeros where there is none."""
        estimates = {name: previous_estimate(context, name, (*x_t[name].shape[:-1], size), x_t[name])
                     for name, size in self.sizes.items()}
        for name, size in self.sizes.items():
            if estimates[name].shape[-1] != size:  # e.g. a mask prior: its input has one state more
                raise ConfigError(f"the self-conditioning estimate of {name!r} has {estimates[name].shape[-1]} "
                                  f"channels, this network reads {size}; use marginal or uniform priors")
        return estimates

    def per_molecule(self, t: Tensor, context: dict[str, Tensor], dtype: torch.dtype) -> Tensor:
        """[B, F]: the time embedding, then (c, 0) or (0, 1) for the condition if there is one."""
        features = [self.time(t).to(dtype)]
        if self.condition_key is not None:
            condition = context[self.condition_key].to(dtype)
            null = torch.isnan(condition)
            features.append(torch.stack([condition.nan_to_num(0.0), null.to(dtype)], dim=-1))
        return torch.cat(features, dim=-1)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Dense: node features [B, N, hidden], edge features [B, N, N, edge]."""
        atoms = x_t["atom_types"]
        per_atom = self.per_molecule(t, context, atoms.dtype)[:, None, :].expand(*atoms.shape[:2], -1)
        nodes, edges = [atoms, x_t["charges"]], [symmetrise(x_t["bonds"])]
        if self.self_conditioning:
            estimate = self.estimates(x_t, context)
            nodes += [estimate["atom_types"], estimate["charges"]]
            edges += [symmetrise(estimate["bonds"]), distances(estimate["pos"])[1]]
        return self.node(torch.cat([*nodes, per_atom], dim=-1)), self.edge(torch.cat(edges, dim=-1))

    def sparse(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor],
               graph: MoleculeGraph) -> tuple[Tensor, Tensor]:
        """Sparse: node features [M, hidden] of the real atoms, edge features [E, edge] of the graph's edges."""
        atoms = graph.atoms(x_t["atom_types"])
        per_atom = self.per_molecule(t, context, atoms.dtype)[graph.batch]
        nodes, edges = [atoms, graph.atoms(x_t["charges"])], [graph.symmetrise(graph.edges(x_t["bonds"]))]
        if self.self_conditioning:
            estimate = self.estimates(x_t, context)
            nodes += [graph.atoms(estimate["atom_types"]), graph.atoms(estimate["charges"])]
            edges += [graph.symmetrise(graph.edges(estimate["bonds"])),
                      graph.relative_positions(graph.atoms(estimate["pos"]))[1]]
        return self.node(torch.cat([*nodes, per_atom], dim=-1)), self.edge(torch.cat(edges, dim=-1))


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
        """Dense features: h [B, N, hidden], e [B, N, N, edge], x [B, N, 3]."""
        pair = torch.cat([e, h[:, :, None] + h[:, None, :], distances(x)[1]], dim=-1)
        bond_logits = self.bonds(pair) * pair_mask(node_mask).unsqueeze(-1).to(h.dtype)
        return self.outputs(h, x, x_t, node_mask, bond_logits)

    def sparse(self, h: Tensor, e: Tensor, x: Tensor, x_t: Tensor, graph: MoleculeGraph) -> dict[str, Tensor]:
        """Sparse features: h [M, hidden], e [E, edge], x [M, 3]; outputs dense like :meth:`forward`."""
        pair = torch.cat([e, h[graph.receiver] + h[graph.sender], graph.relative_positions(x)[1]], dim=-1)
        return self.outputs(graph.dense_atoms(h), graph.dense_atoms(x), x_t, graph.node_mask,
                            graph.dense_edges(self.bonds(pair)))

    def outputs(self, h: Tensor, x: Tensor, x_t: Tensor, node_mask: Tensor, bond_logits: Tensor
                ) -> dict[str, Tensor]:
        """Dense outputs from dense h, x and bond logits that are zero off the real pairs."""
        mask = node_mask.unsqueeze(-1).to(h.dtype)
        if self.predict_displacement:
            delta = x - x_t
            pos = delta - masked_mean(delta, node_mask)
        else:
            pos = x - masked_mean(x, node_mask) + masked_mean(x_t, node_mask)
        return {
            "pos": pos * mask,
            "atom_types": self.atom_types(h) * mask,
            "charges": self.charges(h) * mask,
            "bonds": symmetrise(bond_logits),
        }
