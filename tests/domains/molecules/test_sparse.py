"""The sparse molecule graph (hand-counted cases) and the sparse EGNN and EQGAT against the dense ones on the
same weights."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from domains.molecules.batching import dense_batch, molecule_graph
from domains.molecules.denoisers import EGNNDenoiser, EQGATDenoiser, SparseEGNNDenoiser, SparseEQGATDenoiser
from domains.molecules.sparse import MoleculeGraph
from tests.domains.molecules.test_denoisers import noisy_batch, with_estimate

# molecule 0: real atoms at positions 0 and 2 (a hole at 1); molecule 1: three atoms; molecule 2: empty
MASK = torch.tensor([[True, False, True], [True, True, True], [False, False, False]])


def test_graph_counts_and_indices_by_hand():
    graph = MoleculeGraph.from_mask(MASK)
    assert graph.atom_index.tolist() == [[0, 0], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert graph.batch.tolist() == [0, 0, 1, 1, 1]
    # 2 * 1 + 3 * 2 directed edges, (b, receiver i, sender j) in row-major order
    assert graph.pair_index.tolist() == [[0, 0, 2], [0, 2, 0], [1, 0, 1], [1, 0, 2], [1, 1, 0], [1, 1, 2],
                                         [1, 2, 0], [1, 2, 1]]
    assert graph.edge_index.tolist() == [[1, 0, 3, 4, 2, 4, 2, 3], [0, 1, 2, 2, 3, 3, 4, 4]]
    assert graph.reverse.tolist() == [1, 0, 4, 6, 2, 7, 3, 5]


def test_dense_sparse_round_trips_and_receiver_mean():
    graph = MoleculeGraph.from_mask(MASK)
    values = torch.arange(27.0).view(3, 3, 3) + 1
    edges = graph.edges(values)
    assert edges.tolist() == [3.0, 7.0, 11.0, 12.0, 13.0, 15.0, 16.0, 17.0]
    dense = graph.dense_edges(edges)
    assert dense.diagonal(dim1=1, dim2=2).abs().sum() == 0 and dense[2].abs().sum() == 0
    torch.testing.assert_close(graph.edges(dense), edges)
    torch.testing.assert_close(graph.symmetrise(edges), graph.edges(0.5 * (values + values.transpose(1, 2))))
    atoms = torch.tensor([[1.0, 0.0, 5.0], [2.0, 3.0, 4.0], [9.0, 9.0, 9.0]])
    assert graph.atoms(atoms).tolist() == [1.0, 5.0, 2.0, 3.0, 4.0]
    assert graph.dense_atoms(graph.atoms(atoms)).tolist() == [[1.0, 0.0, 5.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]]
    # messages m_ij = value of the sender j: the mean at i is the mean over the other atoms of its molecule
    means = graph.mean_at_receiver(graph.atoms(atoms)[graph.sender])
    assert means.tolist() == [5.0, 1.0, 3.5, 3.0, 2.5]
    assert graph.sum_at_receiver(graph.atoms(atoms)[graph.sender]).tolist() == [5.0, 1.0, 7.0, 6.0, 5.0]
    assert MoleculeGraph.from_mask(torch.tensor([[True, False]])).mean_at_receiver(torch.zeros(0, 2)).tolist() == [
        [0.0, 0.0]]


PAIRS = {
    "egnn": (EGNNDenoiser, SparseEGNNDenoiser, {}),
    "eqgat": (EQGATDenoiser, SparseEQGATDenoiser, {"vector_dim": 8}),
}


@pytest.fixture(params=sorted(PAIRS))
def pair(request):
    return request.param


def same_weights(name: str, **kwargs) -> tuple[nn.Module, nn.Module]:
    dense_type, sparse_type, sizes = PAIRS[name]
    kwargs = dict(num_atom_types=5, num_charges=3, num_bond_types=5, hidden_dim=32, edge_dim=8, time_dim=16,
                  num_layers=3, **sizes, **kwargs)
    torch.manual_seed(0)
    dense, sparse = dense_type(**kwargs), sparse_type(**kwargs)
    sparse.load_state_dict(dense.state_dict())
    return dense, sparse


def assert_same_outputs_and_gradients(dense, sparse, x_t, t, context):
    out_dense, out_sparse = dense(x_t, t, context), sparse(x_t, t, context)
    for field in out_dense:
        torch.testing.assert_close(out_sparse[field], out_dense[field], atol=2e-5, rtol=0)
    for out in (out_dense, out_sparse):
        sum(v.square().sum() for v in out.values()).backward()
    for (name, p), q in zip(dense.named_parameters(), sparse.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-4, rtol=1e-3, msg=name)


@pytest.mark.parametrize("kwargs", [{}, {"predict_displacement": True}, {"condition_key": "condition"},
                                    {"self_conditioning": True}])
def test_sparse_equals_dense_on_random_inputs(pair, kwargs):
    dense, sparse = same_weights(pair, **kwargs)
    generator = torch.Generator().manual_seed(5)
    x_t, t, context = noisy_batch(generator, real=(7, 5, 1, 3))
    context["condition"] = torch.tensor([0.5, float("nan"), -1.0, 2.0])
    if kwargs.get("self_conditioning"):
        context = with_estimate(x_t, context, generator)
    assert_same_outputs_and_gradients(dense, sparse, x_t, t, context)


def test_sparse_equals_dense_on_real_qm9_batch(pair, qm9_test_table):
    """A padded batch of real molecules with hydrogens (sizes differ, so most pair slots are padding)."""
    dense, sparse = same_weights(pair)
    fields, context = dense_batch([molecule_graph(qm9_test_table, i) for i in range(8)])
    x_t = {"pos": fields["pos"], "atom_types": F.one_hot(fields["atom_types"], 5).float(),
           "charges": F.one_hot(fields["charges"], 3).float(), "bonds": F.one_hot(fields["bonds"], 5).float()}
    assert not context["node_mask"].all()
    assert_same_outputs_and_gradients(dense, sparse, x_t, torch.linspace(0.1, 0.9, 8), context)
