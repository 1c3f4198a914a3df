"""Set metrics on hand-counted examples and the Markov baseline against brute-force probabilities."""

import itertools
import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from domains.sequences.alphabets import get_alphabet
from domains.sequences.baselines import MarkovModel
from domains.sequences.data import package_file
from domains.sequences.metrics import (
    composition_distance,
    evaluate_file,
    gc_content,
    jensen_shannon_distance,
    kmer_counts,
    mean_pairwise_identity,
    valid_sequences,
)
from sciddm.errors import ConfigError, DataError

DNA = get_alphabet("dna")


def test_kmer_counts_by_hand():
    counts = kmer_counts(["AACGA", "ANAC"], 2, "ACGT")  # AA AC CG GA | (AN NA skipped) AC
    expected = np.zeros(16, dtype=int)
    for kmer, n in {"AA": 1, "AC": 2, "CG": 1, "GA": 1}.items():
        expected[4 * "ACGT".index(kmer[0]) + "ACGT".index(kmer[1])] = n
    assert counts.tolist() == expected.tolist()
    assert kmer_counts(["AC"], 3, "ACGT").sum() == 0


def test_pairwise_identity_by_hand():
    # AAAA/AAAT 3/4, AAAA/AA 2/4, AAAT/AA 2/4
    assert mean_pairwise_identity(["AAAA", "AAAT", "AA"]) == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert mean_pairwise_identity(["ACGT"] * 5) == 1.0
    assert math.isnan(mean_pairwise_identity(["ACGT"]))


def test_gc_content_and_composition_by_hand():
    assert gc_content(["GGCC", "ATAT", "GANT"]) == pytest.approx(5 / 11)
    assert composition_distance(["AAAC"], ["ACCC"], "AC") == pytest.approx(0.5)
    assert composition_distance(["ACGT"], ["TGCA"], "ACGT") == 0.0


def test_js_distance_matches_scipy_and_its_extremes():
    rng = np.random.default_rng(0)
    p, q = rng.random(64), rng.random(64)
    assert jensen_shannon_distance(p, q) == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    assert jensen_shannon_distance(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    assert jensen_shannon_distance(p, 3 * p) == pytest.approx(0.0, abs=1e-7)


def test_validity_counts_residues_only():
    assert valid_sequences(["acgt", "ACNT", "", "AC-T"], DNA) == ["ACGT"]
    assert valid_sequences(["AC-T"], DNA, allow_gaps=True) == ["AC-T"]


def test_evaluate_file_on_hand_made_dna(tmp_path):
    samples, reference = tmp_path / "s.fa", tmp_path / "r.fa"
    samples.write_text(">a\nACGTACGT\n>b\nACGTACGT\n>c\nACGTNCGT\n>d\nGGGGCCCC\n")
    reference.write_text(">r1\nACGTACGT\n>r2\nGGGGCCCC\n")
    metrics = evaluate_file(samples, reference)
    assert metrics["alphabet"] == "dna" and metrics["num_sequences"] == 4
    assert metrics["validity"] == 0.75 and metrics["uniqueness"] == pytest.approx(2 / 3)
    # pairs a-b 8/8; a-d and b-d match at positions 3 (G) and 6 (C): 2/8 each
    assert metrics["mean_pairwise_identity"] == pytest.approx((1 + 0.25 + 0.25) / 3)
    assert metrics["gc_content"] == pytest.approx(16 / 24)
    # valid samples = 2 x r1 + r2, so their spectra differ from the reference's only by r1's extra weight
    p, q = (
        kmer_counts(["ACGTACGT"] * 2 + ["GGGGCCCC"], 3, "ACGT"),
        kmer_counts(["ACGTACGT", "GGGGCCCC"], 3, "ACGT"),
    )
    assert metrics["kmer3_pearson"] == pytest.approx(np.corrcoef(p / p.sum(), q / q.sum())[0, 1])
    assert metrics["kmer3_js_distance"] == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    assert metrics["reference_gc_content"] == pytest.approx(0.75)


def test_evaluate_file_real_proteins_against_themselves():
    ww = package_file("logomaker", "examples/datafiles/ww_sequences.fa")
    metrics = evaluate_file(ww, ww, allow_gaps="true", max_identity_sequences=300)
    assert metrics["alphabet"] == "protein" and metrics["mean_length"] == 44.0
    assert metrics["validity"] == pytest.approx(4024 / 4025)  # one aligned sequence contains an X
    assert metrics["kmer3_pearson"] > 0.999 and metrics["aa_composition_tv"] < 1e-3
    assert 0.3 < metrics["mean_pairwise_identity"] < 0.8  # one Pfam family: related, not identical


def test_evaluate_file_writes_the_spectrum_plot(tmp_path):
    samples = tmp_path / "s.fa"
    samples.write_text(">a\nACGTACGTTTGA\n>b\nGGGGCCCCATAT\n")
    plot = tmp_path / "plots" / "kmer3.png"
    evaluate_file(samples, samples, plot=str(plot))
    assert plot.read_bytes().startswith(b"\x89PNG") and [p.name for p in plot.parent.iterdir()] == [
        "kmer3.png"
    ]
    with pytest.raises(ConfigError, match="reference"):
        evaluate_file(samples, plot=str(plot))


def test_evaluate_file_bad_input(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">ok\nACGT\n>empty\n")
    with pytest.raises(DataError, match=r"bad\.fa, record empty: empty sequence"):
        evaluate_file(bad)
    with pytest.raises(ConfigError, match="unknown option"):
        evaluate_file(bad, temperature=2)
    with pytest.raises(ConfigError, match="needs both --checkpoint CKPT and --config CONFIG"):
        evaluate_file(bad, checkpoint="model.ckpt")


def brute_force_probability(sequence, train, order, alpha, k_symbols):
    """P(x) by counting substrings in Python: the definition in baselines.py, written independently."""
    probability = 1.0
    for i, symbol in enumerate(sequence):
        j = min(i, order)
        context = tuple(sequence[i - j : i])
        if j < order:  # start position i: counts at position i only
            pairs = [(tuple(t[i - j : i]), t[i]) for t in train if len(t) > i]
        else:
            pairs = [(tuple(t[p - j : p]), t[p]) for t in train for p in range(j, len(t))]
        n_ca = sum(1 for c, a in pairs if c == context and a == symbol)
        n_c = sum(1 for c, _ in pairs if c == context)
        probability *= (n_ca + alpha) / (n_c + k_symbols * alpha)
    return probability


@pytest.mark.parametrize("order", [0, 1, 2])
def test_markov_likelihood_equals_brute_force_and_normalises(order):
    train = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1]])
    model = MarkovModel(order, 2, pseudocount=0.5).fit(train)
    every = np.array(list(itertools.product([0, 1], repeat=5)))
    probabilities = 2.0 ** model.log2_likelihood(every)
    assert probabilities.sum() == pytest.approx(1.0)
    expected = [brute_force_probability(list(x), train.tolist(), order, 0.5, 2) for x in every]
    assert np.allclose(probabilities, expected)


def test_markov_masked_rows_score_only_real_tokens():
    train = np.array([[0, 1, 2, 0, 1, 2], [2, 1, 0, 2, 1, 0]])
    model = MarkovModel(2, 3).fit(train)
    padded = np.array([[0, 1, 2, 2, 2, 2]])
    mask = np.array([[True, True, True, False, False, False]])
    assert model.log2_likelihood(padded, mask)[0] == pytest.approx(model.log2_likelihood(padded[:, :3])[0])
    with pytest.raises(ConfigError, match="prefix"):
        model.log2_likelihood(padded, ~mask)


def test_markov_memorises_a_deterministic_chain():
    train = np.tile([0, 1, 2, 3], (5, 10))  # 0123 0123 ...: every next symbol is determined by the last
    exact = MarkovModel(1, 4, pseudocount=0.0).fit(train)
    assert exact.bits_per_token(train) == 0.0
    assert exact.log2_likelihood(np.array([[1, 2]]))[0] == -np.inf  # training sequences all start with 0
    first = exact.sample(3, 8, seed=1)
    assert first.tolist() == [[0, 1, 2, 3, 0, 1, 2, 3]] * 3
    # add-one: P(x_1 = 1) = (0 + 1) / (5 + 4); P(2 | 1) = (50 + 1) / (50 + 4) (50 transitions out of 1)
    smoothed = MarkovModel(1, 4, pseudocount=1.0).fit(train)
    assert smoothed.log2_likelihood(np.array([[1, 2]]))[0] == pytest.approx(np.log2(1 / 9 * 51 / 54))


def test_markov_samples_reproduce_the_transition_table():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 3, size=(50, 30))
    model = MarkovModel(1, 3).fit(train)
    samples = model.sample(4000, 30, seed=0)
    counts = np.zeros((3, 3))
    np.add.at(counts, (samples[:, :-1].ravel(), samples[:, 1:].ravel()), 1)
    empirical = counts / counts.sum(axis=1, keepdims=True)
    assert np.abs(empirical - model.probabilities(1)).max() < 0.01  # ~39k transitions per row: sd ~0.0025
    assert np.array_equal(model.sample(5, 30, seed=7), model.sample(5, 30, seed=7))
