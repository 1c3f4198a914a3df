"""Named graph data sets with the train/validation/test splits of the protocol that introduced them.

=================  =================================================  =========================================
name               graphs                                             split
=================  =================================================  =========================================
community_small    :func:`generators.community_small` (100)           GDSS: 80 train / 20 test; val = test
grid               :func:`generators.grid` (100)                      GDSS: 80 train / 20 test; val = test
planar             :func:`generators.planar` (200)                    SPECTRE: 128 / 32 / 40
sbm                :func:`generators.sbm` (200)                       SPECTRE: 128 / 32 / 40
atlas              networkx graph atlas, connected, 3-7 nodes (995)   random 80 / 10 / 10
qm9                QM9 heavy-atom graphs from ``qm9pack`` SMILES       random 80 / 10 / 10 (``limit``: random subset)
moses              MOSES train / test SMILES from ``molsets``          MOSES train (last 10% = val) / test
=================  =================================================  =========================================

GDSS split (Jo et al. 2022, ``load_data``): after a seeded shuffle, the first 20% (``int(0.2 n)``) is the test
set and the rest the training set; GDSS evaluates against the test set and has no separate validation set.
SPECTRE split (Martinkus et al. 2022, reused by DiGress and DeFoG): ``test = round(0.2 n)``,
``train = round(0.8 (n - test))``, validation the rest, taken in the order of ``torch.randperm(n)`` with a
``torch.Generator`` seeded 1234. ``seed`` drives both the generator and the shuffle, so a name and a seed fix
every graph of every split.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from networkx.generators.atlas import graph_atlas_g

from domains.graphs import generators, molecular
from domains.graphs.convert import relabel
from sciddm.errors import choose


@dataclass(frozen=True)
class GraphSplits:
    """Train / validation / test lists of graphs, plus the node alphabet of the set (``None``: untyped)."""

    train: list[nx.Graph]
    val: list[nx.Graph]
    test: list[nx.Graph]
    atoms: tuple[str, ...] | None = None


def gdss_split(graphs: list[nx.Graph], seed: int, test_fraction: float = 0.2) -> GraphSplits:
    """Seeded shuffle, first ``int(test_fraction n)`` graphs are the test set, the rest train; val = test."""
    order = np.random.default_rng(seed).permutation(len(graphs))
    shuffled = [graphs[i] for i in order]
    cut = int(test_fraction * len(graphs))
    return GraphSplits(train=shuffled[cut:], val=shuffled[:cut], test=shuffled[:cut])


def spectre_split(graphs: list[nx.Graph], split_seed: int = 1234) -> GraphSplits:
    """SPECTRE's split: ``torch.randperm`` with a generator seeded ``split_seed``; 64% / 16% / 20%."""
    n = len(graphs)
    n_test = round(0.2 * n)
    n_train = round(0.8 * (n - n_test))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed)).tolist()
    pick = [graphs[i] for i in order]
    return GraphSplits(train=pick[:n_train], val=pick[n_train:n - n_test], test=pick[n - n_test:])


def random_split(graphs: list[nx.Graph], seed: int, fractions: tuple[float, float] = (0.8, 0.1)) -> GraphSplits:
    """Seeded shuffle, then ``fractions`` (train, val) of the graphs; the rest is the test set."""
    order = np.random.default_rng(seed).permutation(len(graphs))
    pick = [graphs[i] for i in order]
    a = int(fractions[0] * len(graphs))
    b = a + int(fractions[1] * len(graphs))
    return GraphSplits(train=pick[:a], val=pick[a:b], test=pick[b:])


def atlas_graphs(min_nodes: int = 3, max_nodes: int = 7) -> list[nx.Graph]:
    """Connected graphs of networkx's atlas (all graphs up to 7 nodes, Read & Wilson) within the size range."""
    return [g for g in graph_atlas_g() if min_nodes <= g.number_of_nodes() <= max_nodes and nx.is_connected(g)]


def named_graphs() -> dict[str, nx.Graph]:
    """Small real social networks shipped with networkx."""
    return {
        "karate_club": nx.karate_club_graph(),
        "davis_southern_women": nx.davis_southern_women_graph(),
        "florentine_families": nx.florentine_families_graph(),
        "les_miserables": nx.les_miserables_graph(),
    }


def load_dataset(name: str, seed: int = 0, limit: int | None = None) -> GraphSplits:
    """The graphs and splits of data set ``name`` (see the module table), with ``type`` attributes filled in;
    ``limit`` caps molecular sets."""
    builders = {
        "community_small": lambda: gdss_split(generators.community_small(seed=seed), seed),
        "grid": lambda: gdss_split(generators.grid(), seed),
        "planar": lambda: spectre_split(generators.planar(seed=seed)),
        "sbm": lambda: spectre_split(generators.sbm(seed=seed)),
        "atlas": lambda: random_split(atlas_graphs(), seed),
        "qm9": lambda: _qm9(seed, limit),
        "moses": lambda: _moses(limit),
    }
    splits = choose(name, builders, "graph data set")()
    train, val, test = ([relabel(g) for g in part] for part in (splits.train, splits.val, splits.test))
    return GraphSplits(train, val, test, splits.atoms)


def _qm9(seed: int, limit: int | None) -> GraphSplits:
    """QM9, or with ``limit`` a seeded uniform subset of ``limit`` molecules (the file is ordered by size, so
    its first rows would be only the smallest molecules), split 80 / 10 / 10."""
    atoms = molecular.QM9_ATOMS
    smiles = molecular.qm9_smiles()
    if limit is not None and limit < len(smiles):
        smiles = [smiles[i] for i in np.sort(np.random.default_rng(seed).choice(len(smiles), limit, replace=False))]
    splits = random_split(molecular.smiles_to_graphs(smiles, atoms, "qm9pack"), seed)
    return GraphSplits(splits.train, splits.val, splits.test, atoms)


def _moses(limit: int | None) -> GraphSplits:
    atoms = molecular.MOSES_ATOMS
    train = molecular.smiles_to_graphs(molecular.moses_smiles("train", limit), atoms, "molsets train.csv.gz")
    test = molecular.smiles_to_graphs(molecular.moses_smiles("test", limit), atoms, "molsets test.csv.gz")
    cut = len(train) - len(train) // 10
    return GraphSplits(train=train[:cut], val=train[cut:], test=test, atoms=atoms)
