"""A DiGress-style graph transformer (Vignac et al. 2023) over node, edge and global features.

Contract: ``forward(x_t, t, context)`` with ``x_t["nodes"]`` [B, N, K_nodes] and ``x_t["edges"]``
[B, N, N, K_edges] (noisy one-hot / probability tensors as float; edge class 0 = no edge), ``t`` [B] in [0, 1]
and ``context["node_mask"]`` [B, N] bool; returns raw node logits [B, N, K_nodes] and edge logits
[B, N, N, K_edges], symmetric in the two node axes. Padded nodes and the diagonal get zero logits.

One layer (our reading of DiGress's ``XEyTransformerLayer``): per head and channel, the attention score of
``i -> j`` is ``(q_i * k_j / sqrt(d)) * (1 + W1 e_ij) + W2 e_ij``; this score tensor, modulated by the global
vector ``y`` (FiLM), is the new edge feature; a softmax over ``j`` (real nodes only) weights ``v_j`` to give
the new node feature, also FiLM-modulated by ``y``; ``y`` is updated from itself and masked mean / max pools
of nodes and edges. Residuals, layer norms and feed-forward blocks follow each update. The global input is a
sinusoidal embedding of ``t`` plus optional cycle and spectral graph features; nodes get the matching node
features (:mod:`domains.graphs.features`); optionally, random-walk probabilities ``(P^k)_ij`` join the edge
input and return probabilities the node input (DeFoG's RRWP features). With ``self_conditioning`` the node and edge
inputs also carry the previous evaluation's class probabilities :math:`\tilde p(x_0)` (zeros at the first one;
:mod:`sciddm.self_conditioning`). Every operation is applied per node, per pair or pooled over nodes, so the
network is permutation equivariant.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from domains.graphs.features import cycle_features, random_walk_features, spectral_features
from sciddm.self_conditioning import previous_estimate


def time_embedding(t: torch.Tensor, dim: int, max_period: float = 1000.0) -> torch.Tensor:
    """[B, dim] sinusoidal embedding of ``t`` in [0, 1]: ``sin / cos(t * w_k)``, ``w_k`` geometric from 1 to
    ``max_period``."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(0, math.log(max_period), half, device=t.device, dtype=t.dtype))
    angles = t[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out))


def _pool(h: torch.Tensor, mask: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Masked mean and max over ``dims``: [B, 2 C]."""
    m = mask[..., None].to(h.dtype)
    mean = (h * m).sum(dims) / m.sum(dims).clamp_min(1)
    largest = h.masked_fill(~mask[..., None], -1e4).amax(dims)
    return torch.cat([mean, largest * (m.sum(dims) > 0)], dim=-1)


class GraphTransformerLayer(nn.Module):
    """One node/edge/global update (see the module docstring)."""

    def __init__(self, node_dim: int, edge_dim: int, global_dim: int, num_heads: int, dropout: float = 0.0,
                 update_global: bool = True):
        super().__init__()
        self.update_global = update_global
        if node_dim % num_heads:
            raise ValueError(f"node_dim={node_dim} must be divisible by num_heads={num_heads}")
        self.heads = num_heads
        self.qkv = nn.Linear(node_dim, 3 * node_dim)
        self.edge_film = nn.Linear(edge_dim, 2 * node_dim)
        self.global_edge_film = nn.Linear(global_dim, 2 * node_dim)
        self.global_node_film = nn.Linear(global_dim, 2 * node_dim)
        self.node_out = nn.Linear(node_dim, node_dim)
        self.edge_out = nn.Linear(node_dim, edge_dim)
        self.node_ff, self.edge_ff = _mlp(node_dim, 2 * node_dim, node_dim), _mlp(edge_dim, 2 * edge_dim, edge_dim)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for d in (node_dim, edge_dim, node_dim, edge_dim))
        if update_global:  # the last layer's global vector would feed nothing
            self.global_out = _mlp(global_dim + 2 * node_dim + 2 * edge_dim, global_dim, global_dim)
            self.global_ff = _mlp(global_dim, 2 * global_dim, global_dim)
            self.global_norms = nn.ModuleList([nn.LayerNorm(global_dim), nn.LayerNorm(global_dim)])
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, e: torch.Tensor, y: torch.Tensor, mask: torch.Tensor):
        b, n, dx = x.shape
        pair = mask[:, :, None] & mask[:, None, :]
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, dx // self.heads).unbind(2)
        scores = q[:, :, None] * k[:, None, :] / math.sqrt(dx // self.heads)  # [B, N, N, H, D]
        e_mul, e_add = self.edge_film(e).view(b, n, n, 2, self.heads, -1).unbind(3)
        scores = scores * (1 + e_mul) + e_add
        y_mul, y_add = self.global_edge_film(y).chunk(2, dim=-1)
        new_e = scores.flatten(-2) * (1 + y_mul[:, None, None]) + y_add[:, None, None]
        weights = torch.softmax(scores.masked_fill(~mask[:, None, :, None, None], -1e9), dim=2)
        attended = (weights * v[:, None]).sum(2).flatten(-2)
        y_mul, y_add = self.global_node_film(y).chunk(2, dim=-1)
        new_x = attended * (1 + y_mul[:, None]) + y_add[:, None]
        if self.update_global:
            new_y = self.global_out(torch.cat([y, _pool(x, mask, (1,)), _pool(e, pair, (1, 2))], dim=-1))
            y = self.global_norms[0](y + self.drop(new_y))
            y = self.global_norms[1](y + self.drop(self.global_ff(y)))
        x = self.norms[0](x + self.drop(self.node_out(new_x)))
        e = self.norms[1](e + self.drop(self.edge_out(new_e)))
        x = self.norms[2](x + self.drop(self.node_ff(x))) * mask[..., None]
        e = self.norms[3](e + self.drop(self.edge_ff(e))) * pair[..., None]
        return x, e, y


class GraphTransformer(nn.Module):
    """Denoiser for graphs with categorical node and edge types.

    Args:
        num_node_types, num_edge_types: alphabet sizes (edge class 0 = no edge).
        node_dim, edge_dim, global_dim: hidden widths; ``node_dim`` divisible by ``num_heads``.
        num_layers, num_heads, dropout: transformer depth, heads, dropout.
        time_dim: width of the sinusoidal time embedding.
        cycle_features, spectral_features: add the structural features of :mod:`domains.graphs.features`,
            computed on the noisy adjacency ``1 - p(no edge)``.
        num_eigenvalues: how many Laplacian eigenvalues the spectral features keep.
        random_walk_steps: K > 0 adds the random-walk features of :mod:`domains.graphs.features` for
            k = 1..K (pair features to the edge input, return probabilities to the node input).
        node_field, edge_field: names of the two fields in ``x_t`` and in the output.
        self_conditioning: also read the previous clean-graph estimate (node and edge class probabilities).
    """

    def __init__(self, num_node_types: int = 1, num_edge_types: int = 2, node_dim: int = 64, edge_dim: int = 32,
                 global_dim: int = 64, num_layers: int = 4, num_heads: int = 4, dropout: float = 0.0,
                 time_dim: int = 32, cycle_features: bool = True, spectral_features: bool = True,
                 num_eigenvalues: int = 5, random_walk_steps: int = 0, node_field: str = "nodes",
                 edge_field: str = "edges", self_conditioning: bool = False):
        super().__init__()
        self.node_field, self.edge_field = node_field, edge_field
        self.self_conditioning = self_conditioning
        self.num_node_types, self.num_edge_types = num_node_types, num_edge_types
        self.use_cycles, self.use_spectral = cycle_features, spectral_features
        self.num_eigenvalues, self.time_dim, self.random_walk_steps = num_eigenvalues, time_dim, random_walk_steps
        extra_nodes = 2 * cycle_features + 3 * spectral_features + random_walk_steps
        extra_global = 2 * cycle_features + (num_eigenvalues + 1) * spectral_features
        estimates = 2 if self_conditioning else 1  # the noisy one-hot input, and the previous estimate
        self.node_in = _mlp(estimates * num_node_types + extra_nodes, node_dim, node_dim)
        self.edge_in = _mlp(estimates * num_edge_types + random_walk_steps, edge_dim, edge_dim)
        self.global_in = _mlp(time_dim + extra_global, global_dim, global_dim)
        self.layers = nn.ModuleList(
            GraphTransformerLayer(node_dim, edge_dim, global_dim, num_heads, dropout, update_global=i < num_layers - 1)
            for i in range(num_layers))
        self.node_head = _mlp(node_dim, node_dim, num_node_types)
        self.edge_head = _mlp(edge_dim, edge_dim, num_edge_types)

    def _structure(self, edges: torch.Tensor, mask: torch.Tensor
                   ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Extra node, graph and pair features of the noisy adjacency ``1 - p(no edge)``."""
        adj = 1 - edges[..., 0]
        node, graph, pair = [], [], []
        if self.use_cycles:
            n_feat, g_feat = cycle_features(adj, mask)
            node.append(torch.log1p(n_feat))
            graph.append(torch.log1p(g_feat))
        if self.use_spectral:
            n_feat, g_feat = spectral_features(adj.double(), mask, self.num_eigenvalues)
            node.append(n_feat.to(adj.dtype))
            graph.append(g_feat.to(adj.dtype))
        if self.random_walk_steps:
            n_feat, p_feat = random_walk_features(adj, mask, self.random_walk_steps)
            node.append(n_feat)
            pair.append(p_feat)
        return node, graph, pair

    def forward(self, x_t: dict[str, torch.Tensor], t: torch.Tensor,
                context: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        nodes, edges = x_t[self.node_field], x_t[self.edge_field]
        mask = context["node_mask"].bool()
        n = nodes.shape[1]
        pair = mask[:, :, None] & mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=mask.device)
        node_extra, graph_extra, pair_extra = self._structure(edges, mask)
        if self.self_conditioning:
            node_extra.insert(0, previous_estimate(context, self.node_field, (*nodes.shape[:-1], self.num_node_types),
                                                   nodes))
            pair_extra.insert(0, previous_estimate(context, self.edge_field, (*edges.shape[:-1], self.num_edge_types),
                                                   edges))
        x = self.node_in(torch.cat([nodes, *node_extra], dim=-1)) * mask[..., None]
        e = self.edge_in(torch.cat([edges, *pair_extra], dim=-1))
        e = (e + e.transpose(1, 2)) / 2 * pair[..., None]
        y = self.global_in(torch.cat([time_embedding(t.to(nodes.dtype), self.time_dim), *graph_extra], dim=-1))
        for layer in self.layers:
            x, e, y = layer(x, e, y, mask)
        edge_logits = self.edge_head(e)
        edge_logits = (edge_logits + edge_logits.transpose(1, 2)) / 2 * pair[..., None]
        return {self.node_field: self.node_head(x) * mask[..., None], self.edge_field: edge_logits}
