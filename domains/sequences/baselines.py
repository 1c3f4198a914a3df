"""A k-th order Markov chain over tokens: the exact-likelihood baseline for the sequence benchmarks.

For a sequence ``x_1 .. x_L`` (its length given, as the diffusion models are given the length too)::

    P(x) = prod_{i=1..L} P_j(x_i | x_{i-j} .. x_{i-1}),   j = min(i - 1, k)

The transition table of order ``k`` is shared by all positions ``i > k``; the first ``k`` symbols use
their own position-specific tables of orders ``0 .. k-1`` (the chain rule for the initial k-mer, as a Markov
chain's initial distribution). Every table is estimated with additive (Lidstone) smoothing: with ``n(c, a)``
the training count of symbol ``a`` after context ``c`` and ``K`` symbols,

    P(a | c) = (n(c, a) + alpha) / (n(c) + K alpha)

``alpha = 1`` is Laplace's add-one rule (the default); with ``alpha = 0`` (maximum likelihood) a context
never seen in training gets the uniform distribution. Each conditional sums to one, so ``P`` is a proper
distribution over sequences of each length and ``-log2 P(x) / L`` is an exact code length in bits per token.
Masked (padding) positions are neither counted nor scored; real tokens must form a prefix of each row.
"""

from __future__ import annotations

import numpy as np

from sciddm.errors import ConfigError

_BLOCK = 4096


class MarkovModel:
    """Order-``order`` Markov chain over ``num_symbols`` token values, fitted by smoothed counting."""

    def __init__(self, order: int, num_symbols: int, pseudocount: float = 1.0):
        if order < 0 or num_symbols < 1 or pseudocount < 0:
            raise ConfigError(
                f"need order >= 0, num_symbols >= 1, pseudocount >= 0; got {order}, {num_symbols}, {pseudocount}"
            )
        self.order = order
        self.num_symbols = num_symbols
        self.pseudocount = pseudocount
        # tables[j]: counts [K**j, K] of order j; j < order only at position j, j = order at positions >= order
        self.counts = [np.zeros((num_symbols**j, num_symbols)) for j in range(order + 1)]

    def fit(self, tokens: np.ndarray, mask: np.ndarray | None = None) -> MarkovModel:
        """Add the transitions of ``tokens`` [N, L] (real positions where ``mask``) to the counts."""
        tokens, mask = self._checked(tokens, mask)
        for _, order, (context, target, valid) in self._transitions(tokens, mask):
            pair = context[valid] * self.num_symbols + target[valid]
            self.counts[order] += np.bincount(pair, minlength=self.counts[order].size).reshape(
                self.counts[order].shape
            )
        return self

    def probabilities(self, order: int) -> np.ndarray:
        """The smoothed conditional table ``P_order(a | c)``, shape [K**order, K]."""
        counts = self.counts[order] + self.pseudocount
        counts[counts.sum(axis=1) == 0] = 1.0  # alpha = 0 and an unseen context: uniform
        return counts / counts.sum(axis=1, keepdims=True)

    def log2_likelihood(self, tokens: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """``log2 P(x)`` of each row [N]."""
        tokens, mask = self._checked(tokens, mask)
        tables = [self.probabilities(order) for order in range(self.order + 1)]
        total = np.zeros(len(tokens))
        for rows, order, (context, target, valid) in self._transitions(tokens, mask):
            with np.errstate(divide="ignore"):
                log_p = np.log2(tables[order][context, target])
            total[rows] += np.where(valid, log_p, 0.0).sum(axis=1)
        return total

    def bits_per_token(self, tokens: np.ndarray, mask: np.ndarray | None = None) -> float:
        """Exact negative log-likelihood in bits per real token, pooled over all rows."""
        tokens, mask = self._checked(tokens, mask)
        return float(-self.log2_likelihood(tokens, mask).sum() / mask.sum())

    def sample(self, num: int, length: int, seed: int = 0) -> np.ndarray:
        """``num`` sequences of ``length`` tokens [num, length] (int64), drawn with ``default_rng(seed)``."""
        rng = np.random.default_rng(seed)
        out = np.zeros((num, length), dtype=np.int64)
        for i in range(length):
            order = min(i, self.order)
            context = self._context(out[:, i - order : i], order)
            cumulative = self.probabilities(order)[context].cumsum(axis=1)
            draws = rng.random((num, 1)) * cumulative[:, -1:]
            out[:, i] = np.minimum((draws >= cumulative).sum(axis=1), self.num_symbols - 1)
        return out

    def _context(self, window: np.ndarray, order: int) -> np.ndarray:
        """Base-K number of the last ``order`` symbols along the last axis (most recent least significant)."""
        weights = self.num_symbols ** np.arange(order - 1, -1, -1)
        return (window * weights).sum(axis=-1)

    def _transitions(self, tokens: np.ndarray, mask: np.ndarray):
        """Yield ``(rows, order, (context, target, valid))`` for the start positions and the shared table.

        ``rows`` is a slice of at most ``_BLOCK`` rows, so that memory stays bounded on large data sets.
        """
        length, k = tokens.shape[1], self.order
        for start in range(0, len(tokens), _BLOCK):
            rows = slice(start, start + _BLOCK)
            block, valid = tokens[rows], mask[rows]
            for i in range(min(k, length)):
                yield (
                    rows,
                    i,
                    (self._context(block[:, :i], i)[:, None], block[:, i : i + 1], valid[:, i : i + 1]),
                )
            if length > k:
                windows = np.lib.stride_tricks.sliding_window_view(block, k + 1, axis=1)  # [n, L - k, k + 1]
                yield rows, k, (self._context(windows[..., :k], k), block[:, k:], valid[:, k:])

    def _checked(self, tokens: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        tokens = np.asarray(tokens, dtype=np.int64)
        mask = np.ones(tokens.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if tokens.ndim != 2 or mask.shape != tokens.shape:
            raise ConfigError(f"tokens and mask must both be [N, L]; got {tokens.shape} and {mask.shape}")
        if (mask[:, 1:] & ~mask[:, :-1]).any():
            raise ConfigError("real tokens must form a prefix of each row (mask True then False)")
        real = tokens[mask]
        if real.size and (real.min() < 0 or real.max() >= self.num_symbols):
            raise ConfigError(
                f"token values must lie in [0, {self.num_symbols}); got {real.min()}..{real.max()}"
            )
        return np.where(mask, tokens, 0), mask
