"""An e3nn-based denoiser: tensor-product message passing with l <= 1 irreps (NequIP-style convolutions, Batzner
et al. 2022, on the fully connected molecule graph of :class:`sparse.MoleculeGraph`).

Node features are e3nn irreps ``H x 0e + V x 1o``: H invariant scalars s_i and V vectors v_i (parity odd, like
positions, so reflections act correctly); messages multiply the sender's features with the spherical harmonics
Y(u_ij) = (1, sqrt(3) u_ij) of the unit bond direction through Clebsch-Gordan paths that end in 0e or 1o.
The same embedding and output heads as the other denoisers (:mod:`layers`) keep the contract of
:mod:`denoisers` (dense, padded inputs and outputs).
"""

from __future__ import annotations

import torch
from e3nn import o3
from e3nn.nn import Gate
from torch import Tensor, nn
from torch.nn import functional

from domains.molecules.denoisers import GaussianDistanceEmbedding
from domains.molecules.layers import InputEmbedding, OutputHeads, mlp
from domains.molecules.sparse import MoleculeGraph

SPHERICAL_HARMONICS = o3.Irreps("0e + 1o")


class TensorProductLayer(nn.Module):
    """One equivariant convolution on node irreps f_i = (s_i, v_i), edge features e_ij and positions x::

        w_ij = phi_w(s_i, s_j, e_ij, rbf(|x_i - x_j|))            per edge, path and channel
        m_ij = TP_w(f_j, Y(u_ij))                                   channel-wise ("uvu") paths
               0e x 0e -> 0e,  0e x 1o -> 1o,  1o x 0e -> 1o,  1o x 1o -> 0e (dot product)
        f_i <- f_i + Gate(Linear(mean_j m_ij))                      gated: v_c * sigmoid(g_c), silu on scalars
        e_ij <- e_ij + phi_e((m0_ij + m0_ji) / 2)                   m0: the invariant (0e) part of m
        x_i <- x_i + v_i W                                           W: V -> 1, no bias

    means over the other real atoms of the molecule (scatter means at the receiver).
    """

    def __init__(self, hidden_dim: int, vector_dim: int, edge_dim: int, num_rbf: int = 16):
        super().__init__()
        scalars, vectors = o3.Irreps(f"{hidden_dim}x0e"), o3.Irreps(f"{vector_dim}x1o")
        self.node_irreps = scalars + vectors
        # messages: (H + V) x 0e then (H + V) x 1o, each block from one path
        message_irreps = o3.Irreps(f"{hidden_dim}x0e + {vector_dim}x0e + {hidden_dim}x1o + {vector_dim}x1o")
        instructions = [(0, 0, 0, "uvu", True), (1, 1, 1, "uvu", True), (0, 1, 2, "uvu", True),
                        (1, 0, 3, "uvu", True)]
        self.tensor_product = o3.TensorProduct(self.node_irreps, SPHERICAL_HARMONICS, message_irreps, instructions,
                                               shared_weights=False, internal_weights=False)
        self.num_invariant = hidden_dim + vector_dim
        self.rbf = GaussianDistanceEmbedding(num_rbf)
        self.weights = mlp(2 * hidden_dim + edge_dim + num_rbf, hidden_dim, self.tensor_product.weight_numel)
        self.gate = Gate(scalars, [functional.silu], o3.Irreps(f"{vector_dim}x0e"), [torch.sigmoid], vectors)
        self.update = o3.Linear(message_irreps, self.gate.irreps_in)
        self.edge = mlp(self.num_invariant, edge_dim, edge_dim)
        self.position = nn.Linear(vector_dim, 1, bias=False)
        nn.init.xavier_uniform_(self.position.weight, gain=0.001)
        self.hidden_dim, self.vector_dim = hidden_dim, vector_dim

    def forward(self, f: Tensor, e: Tensor, x: Tensor, graph: MoleculeGraph) -> tuple[Tensor, Tensor, Tensor]:
        rel, distance = graph.relative_positions(x)
        harmonics = o3.spherical_harmonics(SPHERICAL_HARMONICS, rel / distance, normalize=False,
                                           normalization="component")
        s = f[:, : self.hidden_dim]
        weights = self.weights(torch.cat([s[graph.receiver], s[graph.sender], e, self.rbf(distance)], dim=-1))
        m = self.tensor_product(f[graph.sender], harmonics, weights)
        f = f + self.gate(self.update(graph.mean_at_receiver(m)))
        e = e + self.edge(graph.symmetrise(m[:, : self.num_invariant]))
        vectors = f[:, self.hidden_dim:].view(-1, self.vector_dim, 3)
        x = x + self.position(vectors.transpose(1, 2)).squeeze(-1)
        return f, e, x


class TensorProductDenoiser(nn.Module):
    """e3nn denoiser: input embedding (scalars; vectors start at zero), ``num_layers``
    :class:`TensorProductLayer` blocks on the sparse molecule graph, the shared output heads on the scalars."""

    def __init__(self, num_atom_types: int = 5, num_charges: int = 3, num_bond_types: int = 5,
                 hidden_dim: int = 128, vector_dim: int = 32, edge_dim: int = 32, time_dim: int = 64,
                 num_layers: int = 6, num_rbf: int = 16, predict_displacement: bool = False,
                 condition_key: str | None = None, self_conditioning: bool = False):
        super().__init__()
        self.hidden_dim, self.vector_dim = hidden_dim, vector_dim
        self.self_conditioning = self_conditioning
        self.embed = InputEmbedding(num_atom_types, num_charges, num_bond_types, hidden_dim, edge_dim, time_dim,
                                    condition_key, self_conditioning)
        self.layers = nn.ModuleList(TensorProductLayer(hidden_dim, vector_dim, edge_dim, num_rbf)
                                    for _ in range(num_layers))
        self.heads = OutputHeads(num_atom_types, num_charges, num_bond_types, hidden_dim, edge_dim,
                                 predict_displacement)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        graph = MoleculeGraph.from_mask(context["node_mask"])
        s, e = self.embed.sparse(x_t, t, context, graph)
        f = torch.cat([s, s.new_zeros(len(s), 3 * self.vector_dim)], dim=-1)
        x = graph.atoms(x_t["pos"])
        for layer in self.layers:
            f, e, x = layer(f, e, x, graph)
        return self.heads.sparse(f[:, : self.hidden_dim], e, x, x_t["pos"], graph)
