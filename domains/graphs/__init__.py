"""Graph generation: benchmark data, readers, metrics, baselines and denoisers for simple undirected graphs.

Representation (shared by every module here):

* a graph is a ``networkx.Graph`` with nodes ``0..n-1``; node attribute ``"type"`` (int, default 0) and edge
  attribute ``"type"`` (int >= 1, default 1). Edge type 0 is reserved for "no edge";
* as tensors (:mod:`domains.graphs.convert`): ``nodes`` [N] long node types and ``edges`` [N, N] long, symmetric,
  zero diagonal, 0 = no edge; batches add a leading dimension and a ``node_mask`` [B, N] bool in the context;
* as torch-geometric ``Data``: ``x`` [n] long node types, ``edge_index`` [2, 2E] listing both directions,
  ``edge_attr`` [2E] long edge types.
"""
