"""PWM motif reward against hand-computed scores and JASPAR contents; the CNN oracle on a known task."""

import numpy as np
import pytest
import torch

from domains.sequences.alphabets import get_alphabet
from domains.sequences.oracles import SequenceCNN, fit_oracle
from domains.sequences.rewards import MotifReward, load_jaspar_matrix, log_odds
from sciddm.errors import ConfigError, DataError

DNA = get_alphabet("dna")


def tokens(*sequences: str) -> torch.Tensor:
    return torch.from_numpy(np.stack([DNA.encode(s) for s in sequences]).astype(np.int64))


def reverse_complement(sequence: str) -> str:
    return sequence.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def test_log_odds_closed_form():
    counts = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    scores = log_odds(counts, pseudocount=0.8)
    assert scores[0, 0] == pytest.approx(np.log2((2 + 0.2) / 2.8 / 0.25))
    assert scores[2, 1] == pytest.approx(np.log2(0.2 / 2.8 / 0.25))
    with np.errstate(divide="ignore"):
        assert log_odds(counts, pseudocount=0.0)[0, 0] == pytest.approx(2.0)


def test_motif_score_by_hand_on_both_strands():
    scores = np.array([[1.0, -1.0, 0.0], [-2.0, 3.0, 0.5], [0.0, 0.0, 2.0], [-1.0, -1.0, -1.0]])  # rows ACGT
    reward = MotifReward(scores)

    def best_forward_window(sequence: str) -> float:
        return max(
            sum(scores["ACGT".index(sequence[i + w]), w] for w in range(3)) for i in range(len(sequence) - 2)
        )

    for sequence in ("ACGTTT", "TTCGTA", "GGGGGG", "ACGACG"):
        expected = max(best_forward_window(sequence), best_forward_window(reverse_complement(sequence)))
        assert reward(tokens(sequence)).item() == pytest.approx(expected)
        assert reward(tokens(reverse_complement(sequence))).item() == pytest.approx(expected)
    assert reward(tokens("ACGTTT")).item() == pytest.approx(6.0)  # A C G = 1 + 3 + 2, the best possible


def test_motif_reward_is_expected_log_odds_on_probabilities():
    scores = np.arange(8.0).reshape(4, 2)
    reward = MotifReward(scores)
    uniform = torch.full((1, 2, 4), 0.25)
    assert reward(uniform).item() == pytest.approx(scores.mean(axis=0).sum())  # both strands average the same
    probabilities = torch.nn.functional.one_hot(tokens("GATTACA"), 4).float().requires_grad_()
    value = reward(probabilities)
    assert value.item() == pytest.approx(reward(tokens("GATTACA")).item())
    value.sum().backward()
    assert probabilities.grad.abs().sum() > 0


def test_jaspar_lookup_by_name_and_id():
    gata1 = load_jaspar_matrix("gata1", release=2024)
    assert gata1.matrix_id == "MA0035.5" and gata1.name == "GATA1"
    assert np.allclose(gata1.counts.sum(axis=0), gata1.counts.sum(axis=0)[0])  # every column counts all sites
    old = load_jaspar_matrix("MA0035.2", release=2024)
    assert old.counts.shape == (4, 11) and "GATAA" in "".join("ACGT"[i] for i in old.counts.argmax(axis=0))
    ctcf = load_jaspar_matrix("CTCF", release=2024)
    assert ctcf.matrix_id == "MA0139.2"
    assert "".join("ACGT"[i] for i in ctcf.counts.argmax(axis=0)) == "GCCACCAGGGGGCGC"


def test_jaspar_consensus_reaches_the_maximum_score():
    reward = MotifReward.from_jaspar("ABF1", release=2024)
    scores = reward.kernels[0].numpy()
    consensus = "".join("ACGT"[i] for i in scores.argmax(axis=0))
    assert reward(tokens("AAAA" + consensus + "AAAA")).item() == pytest.approx(
        scores.max(axis=0).sum(), rel=1e-5
    )


def test_jaspar_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="no JASPAR matrix with id or name 'NOTATF'"):
        load_jaspar_matrix("NOTATF")
    with pytest.raises(ConfigError, match="no JASPAR release 1999"):
        load_jaspar_matrix("GATA1", release=1999)
    garbage = tmp_path / "fake.sqlite"
    garbage.write_bytes(b"\x00\x01 not a database" * 100)
    with pytest.raises(DataError, match=r"fake\.sqlite: not a readable JASPAR SQLite database"):
        load_jaspar_matrix("GATA1", path=garbage)
    with pytest.raises(ConfigError, match="shorter than the motif"):
        MotifReward(np.zeros((4, 5)))(tokens("ACG"))


def test_oracle_ignores_padding():
    torch.manual_seed(0)
    model = SequenceCNN(vocab_size=4, channels=8, kernel_size=4, depth=2).eval()  # even widths pad "same" too
    x = tokens("ACGTACGTAC", "ACGTACGTAC")
    x[1, 6:] = torch.tensor([3, 3, 3, 3])
    mask = torch.arange(10)[None, :] < 6
    out = model(x, mask.expand(2, 10))
    assert out.shape == (2,) and out[0].item() == pytest.approx(out[1].item(), abs=1e-6)


def test_oracle_learns_motif_counts():
    """Activity = number of GATA occurrences on either strand: a CNN recovers it from sequence."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4, size=(3000, 40))
    for row in data[: len(data) // 2]:  # plant 1-3 motifs in half of the sequences
        for start in rng.choice(36, size=rng.integers(1, 4), replace=False):
            row[start : start + 4] = DNA.encode("GATA")
    strings = ["".join("ACGT"[i] for i in row) for row in data]
    activity = np.array([s.count("GATA") + s.count("TATC") for s in strings], dtype=np.float32)
    model = SequenceCNN(vocab_size=4, channels=32, kernel_size=5, depth=2)
    history = fit_oracle(model, data[:2500], activity[:2500], epochs=6, batch_size=64, lr=1e-2, seed=0)
    assert history[-1] < history[0]
    with torch.no_grad():
        prediction = model(torch.from_numpy(data[2500:])).numpy()
    assert np.corrcoef(prediction, activity[2500:])[0, 1] > 0.9
