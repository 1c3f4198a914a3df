"""``sciddm evaluate graphs FILE [--reference FILE]``: every graph metric in one flat JSON-ready dict.

Keys (only those whose inputs were given appear):

* ``num_graphs``, ``mean_nodes``, ``mean_edges``; ``uniqueness``; with a training set ``novelty``; with a
  validity rule ``validity`` and (with a training set) ``vun`` -- see :mod:`domains.graphs.validity`;
* with a reference set, for each statistic in degree / clustering / orbit / spectral and protocol in emd / tv
  (:mod:`domains.graphs.mmd`): ``{statistic}_mmd2_{protocol}``; and (unless ``nspdk=False``) ``nspdk_mmd2``,
  the NSPDK MMD^2 over node and edge types (:mod:`domains.graphs.nspdk`, GDSS's molecular metric);
* with a reference and a training set, DeFoG's ratios (Qin et al. 2025, following Bergmeister et al. 2024):
  ``{statistic}_ratio = MMD^2_tv(generated, reference) / MMD^2_tv(train, reference)`` and ``mean_ratio``,
  their average over the four statistics (DeFoG also averages a wavelet statistic, which we do not compute);
  a statistic whose train-vs-reference MMD^2 is exactly 0 has no ratio and is left out of the mean;
* for molecular graphs (``atoms`` given): ``mol_validity`` (RDKit sanitization, no correction),
  ``mol_uniqueness`` (distinct canonical SMILES / valid), ``mol_novelty`` (unique valid SMILES absent from
  the training set / unique valid) and, with ``fcd=True`` and a reference, ``fcd`` (Frechet ChemNet
  distance, ``fcd_torch``, Preuer et al. 2018) between valid generated and reference SMILES.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from domains.graphs import datasets, molecular
from domains.graphs.mmd import PROTOCOLS, STATISTICS, describe, mmd2_from_descriptors
from domains.graphs.nspdk import nspdk_mmd2
from domains.graphs.readers import read_graphs
from domains.graphs.validity import validity_function, vun
from sciddm.errors import ConfigError

DATASET_VALIDITY = {"planar": "planar", "sbm": "sbm"}


def mmd_metrics(generated: list[nx.Graph], reference: list[nx.Graph],
                train: list[nx.Graph] | None = None) -> dict[str, float]:
    """MMD^2 of every statistic under both protocols, and DeFoG ratios when ``train`` is given."""
    out: dict[str, float] = {}
    ratios = []
    for statistic in STATISTICS:
        gen, ref = describe(generated, statistic), describe(reference, statistic)
        for protocol in PROTOCOLS:
            out[f"{statistic}_mmd2_{protocol}"] = mmd2_from_descriptors(gen, ref, statistic, protocol)
        base = None if train is None else mmd2_from_descriptors(describe(train, statistic), ref, statistic, "tv")
        if base:  # a zero train-vs-test MMD (e.g. clustering on Grid, all zeros) gives no ratio
            out[f"{statistic}_ratio"] = out[f"{statistic}_mmd2_tv"] / base
            ratios.append(out[f"{statistic}_ratio"])
    if ratios:
        out["mean_ratio"] = float(np.mean(ratios))
    return out


def molecule_metrics(generated: list[nx.Graph], atoms: tuple[str, ...], train: list[nx.Graph] | None = None,
                     reference: list[nx.Graph] | None = None, fcd: bool = False) -> dict[str, float]:
    """Validity, uniqueness, novelty (and FCD) of molecular graphs over the alphabet ``atoms``."""
    smiles = [molecular.canonical_smiles(g, atoms) for g in generated]
    valid = [s for s in smiles if s is not None]
    unique = set(valid)
    out = {"mol_validity": len(valid) / max(len(smiles), 1),
           "mol_uniqueness": len(unique) / max(len(valid), 1)}
    if train is not None:
        known = {molecular.canonical_smiles(g, atoms) for g in train}
        out["mol_novelty"] = len(unique - known) / max(len(unique), 1)
    if fcd and reference is not None and valid:
        from fcd_torch import FCD  # heavy import, only when asked

        ref_smiles = [s for s in (molecular.canonical_smiles(g, atoms) for g in reference) if s is not None]
        out["fcd"] = float(FCD(device="cpu", n_jobs=1)(valid, ref_smiles))
    return out


def graph_metrics(generated: list[nx.Graph], reference: list[nx.Graph] | None = None,
                  train: list[nx.Graph] | None = None, validity: str | None = None,
                  atoms: tuple[str, ...] | None = None, fcd: bool = False, nspdk: bool = True) -> dict[str, Any]:
    """All metrics for ``generated`` given whichever of reference, training set, validity rule and atom
    alphabet are available (see the module docstring for the keys)."""
    out: dict[str, Any] = {
        "num_graphs": len(generated),
        "mean_nodes": float(np.mean([g.number_of_nodes() for g in generated])) if generated else 0.0,
        "mean_edges": float(np.mean([g.number_of_edges() for g in generated])) if generated else 0.0,
    }
    out |= vun(generated, train, None if validity is None else validity_function(validity))
    if reference is not None:
        out |= mmd_metrics(generated, reference, train)
        if nspdk:
            out["nspdk_mmd2"] = nspdk_mmd2(generated, reference)
    if atoms is not None:
        out |= molecule_metrics(generated, atoms, train, reference, fcd)
    return out


def evaluate_file(path: Path, reference: Path | None = None, **options: Any) -> dict[str, Any]:
    """Evaluate the graphs in ``path`` (any format of :mod:`domains.graphs.readers`).

    Options: ``train`` (file of training graphs, for novelty, V.U.N. and ratios); ``dataset`` (a name from
    :mod:`domains.graphs.datasets`: its test split is the reference unless ``reference`` is given, its
    training split the training set unless ``train`` is given, its validity rule and atom alphabet apply;
    ``seed`` selects the generated instance, default 0; ``limit`` the molecular subset, as in the configs);
    ``validity`` (planar, sbm, connected, tree); ``atoms`` (comma-separated element symbols, e.g. ``C,N,O,F``);
    ``fcd`` (bool); ``nspdk`` (bool, default true); ``max_nodes``.
    """
    known = {"train", "dataset", "seed", "limit", "validity", "atoms", "fcd", "nspdk", "max_nodes"}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"unknown graph evaluation option(s) {sorted(unknown)}; choose from {sorted(known)}")
    max_nodes = options.get("max_nodes")
    generated = read_graphs(path, max_nodes)
    ref = read_graphs(reference) if reference is not None else None
    train = read_graphs(options["train"]) if options.get("train") is not None else None
    validity = options.get("validity")
    atoms = tuple(options["atoms"].split(",")) if options.get("atoms") else None
    if options.get("dataset") is not None:
        limit = options.get("limit")
        splits = datasets.load_dataset(options["dataset"], seed=int(options.get("seed", 0)),
                                       limit=None if limit is None else int(limit))
        ref = splits.test if ref is None else ref
        train = splits.train if train is None else train
        validity = validity or DATASET_VALIDITY.get(options["dataset"])
        atoms = atoms or splits.atoms
    return graph_metrics(generated, ref, train, validity, atoms, bool(options.get("fcd", False)),
                         bool(options.get("nspdk", True)))
