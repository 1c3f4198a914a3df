import pytest
import torch
import torch.nn.functional as F

from domains.graphs import generators
from domains.graphs.convert import to_data
from domains.graphs.data import dense_batch
from domains.graphs.denoisers import GraphTransformer
from sciddm.self_conditioning import SELF_CONDITION


def _inputs(pad_to=None, num_edge_types=2):
    torch.manual_seed(0)
    batch = dense_batch([to_data(g) for g in generators.community_small(num_graphs=3, seed=0)], pad_to)
    nodes = F.one_hot(batch["nodes"], 2).double()
    edges = F.one_hot(batch["edges"], num_edge_types).double()
    noise = torch.rand(edges.shape, dtype=torch.double)  # soft, noisy but symmetric edge probabilities
    noise = (noise + noise.transpose(1, 2)) / 2
    edges = (edges + noise).softmax(-1)
    return {"nodes": nodes, "edges": edges}, torch.tensor([0.1, 0.5, 0.9], dtype=torch.double), batch["context"]


@pytest.mark.parametrize(("features", "walks"), [(True, 0), (False, 0), (True, 3)])
def test_permutation_equivariance_and_symmetry(features, walks):
    net = GraphTransformer(num_node_types=2, num_edge_types=2, node_dim=16, edge_dim=8, global_dim=16,
                           num_layers=2, num_heads=2, cycle_features=features, spectral_features=features,
                           random_walk_steps=walks).double()
    x, t, context = _inputs()
    out = net(x, t, context)
    perm = torch.randperm(x["nodes"].shape[1])
    permuted = net({"nodes": x["nodes"][:, perm], "edges": x["edges"][:, perm][:, :, perm]}, t,
                   {"node_mask": context["node_mask"][:, perm]})
    assert torch.allclose(permuted["nodes"], out["nodes"][:, perm], atol=1e-10)
    assert torch.allclose(permuted["edges"], out["edges"][:, perm][:, :, perm], atol=1e-10)
    assert torch.equal(out["edges"], out["edges"].transpose(1, 2))
    assert out["nodes"].shape == (3, x["nodes"].shape[1], 2) and out["edges"].shape[-1] == 2


def test_padding_does_not_change_real_outputs():
    net = GraphTransformer(num_node_types=2, num_edge_types=2, node_dim=16, edge_dim=8, global_dim=16,
                           num_layers=2, num_heads=2, random_walk_steps=2).double()
    wide, t, wide_context = _inputs(pad_to=30)
    n = int(wide_context["node_mask"].sum(1).max())
    x = {"nodes": wide["nodes"][:, :n], "edges": wide["edges"][:, :n, :n]}
    context = {"node_mask": wide_context["node_mask"][:, :n]}
    out, out_wide = net(x, t, context), net(wide, t, wide_context)
    mask = context["node_mask"]
    assert torch.allclose(out["nodes"][mask], out_wide["nodes"][:, :n][mask], atol=1e-8)
    assert torch.allclose(out["edges"], out_wide["edges"][:, :n, :n], atol=1e-8)
    assert out_wide["nodes"][:, n:].abs().sum() == 0 and out_wide["edges"][:, n:].abs().sum() == 0


def test_time_changes_the_output_and_gradients_reach_every_parameter():
    net = GraphTransformer(num_node_types=2, num_edge_types=2, node_dim=16, edge_dim=8, global_dim=16,
                           num_layers=2, num_heads=2, random_walk_steps=2).double()
    x, t, context = _inputs()
    out = net(x, t, context)
    assert not torch.allclose(out["edges"], net(x, 1 - t, context)["edges"])
    (out["nodes"].sum() + out["edges"].pow(2).sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_self_conditioning_reads_the_previous_estimate_equivariantly_and_zeros_without_one():
    net = GraphTransformer(num_node_types=2, num_edge_types=2, node_dim=16, edge_dim=8, global_dim=16,
                           num_layers=2, num_heads=2, random_walk_steps=2, self_conditioning=True).double()
    x, t, context = _inputs()
    assert net.edge_in[0].in_features == 2 + 2 + 2 and net.node_in[0].in_features == 2 + 2 + 2 + 3 + 2
    torch.manual_seed(1)
    previous = {"nodes": torch.rand(x["nodes"].shape, dtype=torch.double).softmax(-1),
                "edges": torch.rand(x["edges"].shape, dtype=torch.double)}
    previous["edges"] = ((previous["edges"] + previous["edges"].transpose(1, 2)) / 2).softmax(-1)
    without = net(x, t, context)
    zeros = net(x, t, {**context, SELF_CONDITION: {name: torch.zeros_like(v) for name, v in previous.items()}})
    given = net(x, t, {**context, SELF_CONDITION: previous})
    assert all(torch.equal(without[name], zeros[name]) for name in ("nodes", "edges"))
    assert not torch.allclose(without["edges"], given["edges"])
    perm = torch.randperm(x["nodes"].shape[1])
    permuted = net({"nodes": x["nodes"][:, perm], "edges": x["edges"][:, perm][:, :, perm]}, t,
                   {"node_mask": context["node_mask"][:, perm],
                    SELF_CONDITION: {"nodes": previous["nodes"][:, perm],
                                     "edges": previous["edges"][:, perm][:, :, perm]}})
    assert torch.allclose(permuted["edges"], given["edges"][:, perm][:, :, perm], atol=1e-10)
    assert torch.allclose(permuted["nodes"], given["nodes"][:, perm], atol=1e-10)
