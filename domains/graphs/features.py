"""Structural features of (possibly noisy, soft) dense graphs, computed from the adjacency ``A`` [B, N, N]
(``A_ij`` = probability of an edge, 0/1 for a sampled graph) and ``node_mask`` [B, N]. All are permutation
equivariant (node features) or invariant (graph features), like DiGress's extra features (Vignac et al. 2023).

Cycles (closed-walk identities, exact for 0/1 ``A`` without self-loops), with ``d = A 1``:

* 3-cycles through node i: ``c3_i = (A^3)_ii / 2``;
* 4-cycles through node i: ``c4_i = ((A^4)_ii - d_i^2 - (A d)_i + d_i) / 2`` (closed 4-walks minus the
  ``d_i^2`` walks i-a-i-b-i and the ``sum_a (d_a - 1)`` walks i-a-b-a-i, each 4-cycle walked twice);
* graph totals ``sum c3 / 3`` and ``sum c4 / 4``.

Spectral, from the combinatorial Laplacian ``L = D - A`` of the real nodes (padding is moved out of the way
by adding a large constant to the padded diagonal, which keeps the real block's spectrum):

* graph: the ``k`` smallest eigenvalues (0 beyond the graph's size) and the number of eigenvalues below 1e-5
  (connected components, for 0/1 ``A``);
* node: heat-kernel diagonals ``exp(-tau L)_ii = sum_k exp(-tau lambda_k) v_ik^2`` for a few ``tau``. Unlike
  raw eigenvectors (DiGress), these do not depend on eigenvector signs or bases of repeated eigenvalues, so
  equivariance holds exactly.

Random walks (RRWP, Ma et al. 2023, used as extra features by DeFoG, Qin et al. 2025), with the transition
matrix ``P = D^-1 A`` (rows of isolated nodes are zero):

* pair features ``(P^k)_ij`` for k = 1..K: the probability that a k-step walk from i ends at j, e.g. higher
  inside a community than across it;
* node features ``(P^k)_ii`` (return probabilities).
"""

from __future__ import annotations

import torch

PAD_EIGENVALUE = 1e3


def masked_adjacency(adj: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
    """``A`` with padded rows/columns and the diagonal zeroed."""
    pair = node_mask[:, :, None] & node_mask[:, None, :]
    return adj * pair * (1 - torch.eye(adj.shape[-1], device=adj.device))


def cycle_features(adj: torch.Tensor, node_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Node features [B, N, 2] (c3, c4 per node) and graph features [B, 2] (number of 3- and 4-cycles)."""
    a = masked_adjacency(adj, node_mask)
    d = a.sum(-1)
    a2 = a @ a
    c3 = torch.diagonal(a2 @ a, dim1=-2, dim2=-1) / 2
    c4 = (torch.diagonal(a2 @ a2, dim1=-2, dim2=-1) - d**2 - (a @ d[..., None])[..., 0] + d) / 2
    node = torch.stack([c3, c4], dim=-1) * node_mask[..., None]
    graph = torch.stack([c3.sum(-1) / 3, c4.sum(-1) / 4], dim=-1)
    return node, graph


def spectral_features(adj: torch.Tensor, node_mask: torch.Tensor, num_eigenvalues: int = 5,
                      times: tuple[float, ...] = (0.5, 1.0, 2.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """Node features [B, N, len(times)] (heat-kernel diagonals) and graph features [B, k + 1]
    (smallest Laplacian eigenvalues, number of components)."""
    a = masked_adjacency(adj, node_mask)
    laplacian = torch.diag_embed(a.sum(-1)) - a
    laplacian = laplacian + torch.diag_embed((~node_mask).to(a.dtype) * PAD_EIGENVALUE)
    eigenvalues, vectors = torch.linalg.eigh(laplacian)
    real = eigenvalues < PAD_EIGENVALUE / 2
    tau = torch.tensor(times, dtype=a.dtype, device=a.device)
    weights = torch.exp(-tau[:, None, None] * eigenvalues.clamp_min(0)[None]) * real[None]  # [T, B, N]
    heat = torch.einsum("tbk,bik->bit", weights, vectors**2) * node_mask[..., None]
    smallest = torch.where(real, eigenvalues, torch.zeros_like(eigenvalues))[:, :num_eigenvalues]
    smallest = torch.nn.functional.pad(smallest, (0, num_eigenvalues - smallest.shape[-1]))
    components = ((eigenvalues.abs() < 1e-5) & real).sum(-1, keepdim=True).to(a.dtype)
    return heat, torch.cat([smallest, components], dim=-1)


def random_walk_features(adj: torch.Tensor, node_mask: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Node features [B, N, steps] (``(P^k)_ii``) and pair features [B, N, N, steps] (``(P^k)_ij``), k = 1..steps."""
    a = masked_adjacency(adj, node_mask)
    transition = a / a.sum(-1, keepdim=True).clamp_min(1e-6)
    powers = [transition]
    for _ in range(steps - 1):
        powers.append(powers[-1] @ transition)
    pair = torch.stack(powers, dim=-1)
    return torch.diagonal(pair, dim1=1, dim2=2).transpose(1, 2), pair
