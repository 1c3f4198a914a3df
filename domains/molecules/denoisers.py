"""E(3)-equivariant denoisers for molecules, fully connected within each molecule: dense and masked, or
sparse over a :class:`sparse.MoleculeGraph` (:class:`SparseEGNNDenoiser`, :class:`SparseEQGATDenoiser`).

Contract (see the project's architecture notes): ``forward(x_t, t, context) -> dict`` with
``x_t = {"pos": [B, N, 3], "atom_types": [B, N, Ka], "charges": [B, N, Kc], "bonds": [B, N, N, Kb]}``
(categorical fields as float one-hot / probability vectors), ``t`` [B] in [0, 1] and
``context["node_mask"]`` [B, N] bool (plus ``context[condition_key]`` [B] for conditional models and, with
``self_conditioning=True``, the previous clean estimate; see :class:`layers.InputEmbedding`). Outputs: ``pos``
(equivariant, see :class:`layers.OutputHeads`) and logits ``atom_types`` [B, N, Ka], ``charges`` [B, N, Kc],
``bonds`` [B, N, N, Kb] (invariant, symmetric).
Scalars see the geometry only through distances; coordinates and vector features are only ever combined
linearly with invariant coefficients, so rotations, reflections and translations of ``pos`` act on the
position output and leave the logits unchanged; permuting atoms permutes every output.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import softmax

from domains.molecules.layers import InputEmbedding, OutputHeads, distances, mlp, pair_mask, symmetrise
from domains.molecules.sparse import MoleculeGraph


class EGNNLayer(nn.Module):
    """One E(n)-equivariant layer (Satorras et al., 2021) with edge features, as used by EDM::

        m_ij = phi_m(h_i, h_j, e_ij, |x_i - x_j|^2)
        h_i <- h_i + phi_h(h_i, mean_j m_ij)
        x_i <- x_i + mean_j (x_i - x_j) / (|x_i - x_j| + 1) * phi_x(m_ij)
        e_ij <- e_ij + phi_e(m_ij + m_ji)

    means over the other real atoms of the molecule.
    """

    def __init__(self, hidden_dim: int, edge_dim: int):
        super().__init__()
        self.message = mlp(2 * hidden_dim + edge_dim + 1, hidden_dim, hidden_dim, final_activation=True)
        self.node = mlp(2 * hidden_dim, hidden_dim, hidden_dim)
        self.coordinate = mlp(hidden_dim, hidden_dim, 1)
        self.edge = mlp(hidden_dim, edge_dim, edge_dim)
        nn.init.xavier_uniform_(self.coordinate[-1].weight, gain=0.001)

    def forward(self, h: Tensor, e: Tensor, x: Tensor, pairs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n = h.shape[1]
        weights = pairs.unsqueeze(-1).to(h.dtype)
        count = weights.sum(dim=2).clamp_min(1.0)
        rel, distance = distances(x)
        pair = torch.cat([h[:, :, None].expand(-1, -1, n, -1), h[:, None].expand(-1, n, -1, -1), e,
                          distance ** 2], dim=-1)
        m = self.message(pair) * weights
        h = h + self.node(torch.cat([h, m.sum(dim=2) / count], dim=-1))
        x = x + (rel / (distance + 1.0) * self.coordinate(m) * weights).sum(dim=2) / count
        e = e + self.edge(m + m.transpose(1, 2))
        return h, e, x


class SparseEGNNLayer(EGNNLayer):
    """:class:`EGNNLayer` over the edges of a :class:`MoleculeGraph` (same parameters, same function): features
    h [M, hidden] of the real atoms, e [E, edge] of the directed edges, x [M, 3]; means are scatter means at the
    receiving atom, and m_ji is m at the reverse edge."""

    def forward(self, h: Tensor, e: Tensor, x: Tensor, graph: MoleculeGraph) -> tuple[Tensor, Tensor, Tensor]:
        rel, distance = graph.relative_positions(x)
        m = self.message(torch.cat([h[graph.receiver], h[graph.sender], e, distance ** 2], dim=-1))
        h = h + self.node(torch.cat([h, graph.mean_at_receiver(m)], dim=-1))
        x = x + graph.mean_at_receiver(rel / (distance + 1.0) * self.coordinate(m))
        e = e + self.edge(m + m[graph.reverse])
        return h, e, x


class EGNNDenoiser(nn.Module):
    """EGNN baseline: input embedding, ``num_layers`` :class:`EGNNLayer` blocks, output heads."""

    layer_type = EGNNLayer

    def __init__(self, num_atom_types: int = 5, num_charges: int = 3, num_bond_types: int = 5,
                 hidden_dim: int = 128, edge_dim: int = 32, time_dim: int = 64, num_layers: int = 6,
                 predict_displacement: bool = False, condition_key: str | None = None,
                 self_conditioning: bool = False):
        super().__init__()
        self.self_conditioning = self_conditioning
        self.embed = InputEmbedding(num_atom_types, num_charges, num_bond_types, hidden_dim, edge_dim, time_dim,
                                    condition_key, self_conditioning)
        self.layers = nn.ModuleList(self.layer_type(hidden_dim, edge_dim) for _ in range(num_layers))
        self.heads = OutputHeads(num_atom_types, num_charges, num_bond_types, hidden_dim, edge_dim,
                                 predict_displacement)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        node_mask = context["node_mask"]
        pairs = pair_mask(node_mask)
        h, e = self.embed(x_t, t, context)
        x = x_t["pos"]
        for layer in self.layers:
            h, e, x = layer(h, e, x, pairs)
        return self.heads(h, e, x, x_t["pos"], node_mask)


class SparseEGNNDenoiser(EGNNDenoiser):
    """:class:`EGNNDenoiser` with sparse message passing (:class:`SparseEGNNLayer`): the dense padded inputs
    become a :class:`MoleculeGraph` (real atoms only, fully connected within each molecule) at the boundary and
    the outputs become dense again. Same parameters (state dicts interchange) and the same function up to
    float rounding; it saves the padded pairs' work, which grows with the spread of atom counts in a batch."""

    layer_type = SparseEGNNLayer

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        graph = MoleculeGraph.from_mask(context["node_mask"])
        h, e = self.embed.sparse(x_t, t, context, graph)
        x = graph.atoms(x_t["pos"])
        for layer in self.layers:
            h, e, x = layer(h, e, x, graph)
        return self.heads.sparse(h, e, x, x_t["pos"], graph)


class GaussianDistanceEmbedding(nn.Module):
    """exp(-(d - mu_k)^2 / (2 w^2)) for ``num`` centres mu_k evenly spaced in [0, ``max_distance``] Angstrom."""

    def __init__(self, num: int = 16, max_distance: float = 10.0):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, max_distance, num))
        self.width = max_distance / (num - 1)

    def forward(self, d: Tensor) -> Tensor:
        return torch.exp(-((d - self.centres) ** 2) / (2 * self.width ** 2))


class EquivariantAttentionLayer(nn.Module):
    """EQGAT-style layer (Le et al., 2022; EQGAT-diff, Le et al., 2024) on scalars s [B,N,H], vectors
    v [B,N,3,V], edges e [B,N,N,E] and positions x::

        (a_ij, f_ij, g_ij, k_ij, de_ij) = phi(s_i, s_j, e_ij, rbf(|x_i - x_j|))
        alpha_ij = softmax_j a_ij                                  (over the other real atoms)
        s_i <- s_i + sum_j alpha_ij f_ij
        v_i <- v_i + sum_j alpha_ij (u_ij g_ij + k_ij v_j),        u_ij = (x_i - x_j) / |x_i - x_j|
        e_ij <- e_ij + (de_ij + de_ji) / 2
        (ds_i, gate_i) = psi(s_i, |v_i|);  s_i <- s_i + ds_i;  v_i <- v_i * sigmoid(gate_i)
        x_i <- x_i + v_i W                                          (W: V -> 1, no bias)
    """

    def __init__(self, hidden_dim: int, vector_dim: int, edge_dim: int, num_rbf: int = 16):
        super().__init__()
        self.rbf = GaussianDistanceEmbedding(num_rbf)
        self.sizes = (1, hidden_dim, vector_dim, vector_dim, edge_dim)
        self.edge_model = mlp(2 * hidden_dim + edge_dim + num_rbf, hidden_dim, sum(self.sizes))
        self.node_model = mlp(hidden_dim + vector_dim, hidden_dim, hidden_dim + vector_dim)
        self.position = nn.Linear(vector_dim, 1, bias=False)
        nn.init.xavier_uniform_(self.position.weight, gain=0.001)

    def forward(self, s: Tensor, v: Tensor, e: Tensor, x: Tensor, pairs: Tensor):
        n = s.shape[1]
        weights = pairs.unsqueeze(-1).to(s.dtype)
        rel, distance = distances(x)
        unit = rel / distance
        features = torch.cat([s[:, :, None].expand(-1, -1, n, -1), s[:, None].expand(-1, n, -1, -1), e,
                              self.rbf(distance)], dim=-1)
        logit, f, g, k, de = self.edge_model(features).split(self.sizes, dim=-1)
        alpha = torch.softmax(logit.masked_fill(~pairs.unsqueeze(-1), -1e9), dim=2) * weights
        s = s + (alpha * f).sum(dim=2)
        vector_messages = unit[..., None] * g[..., None, :] + k[..., None, :] * v[:, None]
        v = v + (alpha[..., None] * vector_messages).sum(dim=2)
        e = e + symmetrise(de)
        s, v, x = self.node_update(s, v, x)
        return s, v, e, x

    def node_update(self, s: Tensor, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The per-atom gated update and position move, for any leading shape (v [..., 3, V])."""
        ds, gate = self.node_model(torch.cat([s, (v.pow(2).sum(dim=-2) + 1e-8).sqrt()], dim=-1)).split(
            [s.shape[-1], v.shape[-1]], dim=-1)
        v = v * torch.sigmoid(gate)[..., None, :]
        return s + ds, v, x + self.position(v).squeeze(-1)


class SparseEquivariantAttentionLayer(EquivariantAttentionLayer):
    """:class:`EquivariantAttentionLayer` over the edges of a :class:`MoleculeGraph` (same parameters, same
    function): s [M, H], v [M, 3, V], e [E, edge], x [M, 3]; the attention softmax runs over the edges into each
    receiver (:func:`torch_geometric.utils.softmax`) and the weighted sums are scatter sums."""

    def forward(self, s: Tensor, v: Tensor, e: Tensor, x: Tensor, graph: MoleculeGraph):
        rel, distance = graph.relative_positions(x)
        features = torch.cat([s[graph.receiver], s[graph.sender], e, self.rbf(distance)], dim=-1)
        logit, f, g, k, de = self.edge_model(features).split(self.sizes, dim=-1)
        alpha = softmax(logit, graph.receiver, num_nodes=graph.num_atoms)
        s = s + graph.sum_at_receiver(alpha * f)
        vector_messages = (rel / distance)[..., None] * g[:, None, :] + k[:, None, :] * v[graph.sender]
        v = v + graph.sum_at_receiver(alpha[..., None] * vector_messages)
        e = e + graph.symmetrise(de)
        s, v, x = self.node_update(s, v, x)
        return s, v, e, x


class EQGATDenoiser(nn.Module):
    """Attention / vector-feature network in the EQGAT style (see :class:`EquivariantAttentionLayer`)."""

    layer_type = EquivariantAttentionLayer

    def __init__(self, num_atom_types: int = 5, num_charges: int = 3, num_bond_types: int = 5,
                 hidden_dim: int = 128, vector_dim: int = 32, edge_dim: int = 32, time_dim: int = 64,
                 num_layers: int = 6, num_rbf: int = 16, predict_displacement: bool = False,
                 condition_key: str | None = None, self_conditioning: bool = False):
        super().__init__()
        self.vector_dim = vector_dim
        self.self_conditioning = self_conditioning
        self.embed = InputEmbedding(num_atom_types, num_charges, num_bond_types, hidden_dim, edge_dim, time_dim,
                                    condition_key, self_conditioning)
        self.layers = nn.ModuleList(self.layer_type(hidden_dim, vector_dim, edge_dim, num_rbf)
                                    for _ in range(num_layers))
        self.heads = OutputHeads(num_atom_types, num_charges, num_bond_types, hidden_dim, edge_dim,
                                 predict_displacement)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        node_mask = context["node_mask"]
        pairs = pair_mask(node_mask)
        s, e = self.embed(x_t, t, context)
        x = x_t["pos"]
        v = x.new_zeros(x.shape[0], x.shape[1], 3, self.vector_dim)
        for layer in self.layers:
            s, v, e, x = layer(s, v, e, x, pairs)
        return self.heads(s, e, x, x_t["pos"], node_mask)


class SparseEQGATDenoiser(EQGATDenoiser):
    """:class:`EQGATDenoiser` with sparse message passing (:class:`SparseEquivariantAttentionLayer`), converting
    at the boundary like :class:`SparseEGNNDenoiser`; same parameters, same function up to float rounding."""

    layer_type = SparseEquivariantAttentionLayer

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        graph = MoleculeGraph.from_mask(context["node_mask"])
        s, e = self.embed.sparse(x_t, t, context, graph)
        x = graph.atoms(x_t["pos"])
        v = x.new_zeros(graph.num_atoms, 3, self.vector_dim)
        for layer in self.layers:
            s, v, e, x = layer(s, v, e, x, graph)
        return self.heads.sparse(s, e, x, x_t["pos"], graph)
