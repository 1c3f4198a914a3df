"""The transformer denoiser: contract, bidirectionality, padding, conditioning and that it can learn."""

import pytest
import torch
import torch.nn.functional as F

from domains.sequences.denoisers import SequenceTransformer, sinusoidal_embedding
from sciddm.self_conditioning import SELF_CONDITION


def randomised(**kwargs) -> SequenceTransformer:
    """A network with random (not zero-initialised) weights, so that every input can move the output."""
    torch.manual_seed(0)
    net = SequenceTransformer(width=32, depth=2, heads=4, max_length=16, **kwargs)
    for parameter in net.parameters():
        torch.nn.init.normal_(parameter, std=0.2)
    return net.eval()


def one_hot(tokens, k=5):
    return {"seq": F.one_hot(tokens, k).float()}


def test_sinusoidal_embedding_closed_form():
    emb = sinusoidal_embedding(torch.tensor([0.0, 2.0]), 4, max_period=100.0)
    frequencies = torch.tensor([1.0, 0.1])  # 100 ** (-i / 2), i = 0, 1
    expected = torch.cat([torch.cos(2 * frequencies), torch.sin(2 * frequencies)])
    assert torch.allclose(emb[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.allclose(emb[1], expected)


def test_untrained_network_predicts_uniform_logits():
    net = SequenceTransformer(width=32, depth=2, max_length=16)
    out = net(one_hot(torch.randint(0, 5, (3, 10))), torch.rand(3), {})["seq"]
    assert out.shape == (3, 10, 5) and torch.count_nonzero(out) == 0


def test_attention_is_bidirectional():
    net = randomised()
    tokens = torch.randint(0, 5, (1, 12), generator=torch.Generator().manual_seed(1))
    changed = tokens.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 5
    t = torch.tensor([0.3])
    first, second = net(one_hot(tokens), t, {})["seq"], net(one_hot(changed), t, {})["seq"]
    assert (first[0, 0] - second[0, 0]).abs().max() > 1e-3  # the last token moves the first position


def test_padding_never_reaches_real_positions_and_batches_do_not_mix():
    net = randomised()
    tokens = torch.randint(0, 5, (2, 12), generator=torch.Generator().manual_seed(2))
    mask = torch.arange(12)[None, :] < torch.tensor([[7], [12]])
    other = tokens.clone()
    other[0, 7:] = (other[0, 7:] + 2) % 5
    t = torch.tensor([0.5, 0.9])
    first = net(one_hot(tokens), t, {"mask": mask})["seq"]
    second = net(one_hot(other), t, {"mask": mask})["seq"]
    assert torch.allclose(first[0, :7], second[0, :7], atol=1e-5)
    assert torch.allclose(first[1], second[1], atol=1e-5)
    alone = net(one_hot(tokens[1:]), t[1:], {"mask": mask[1:]})["seq"]
    assert torch.allclose(alone[0], first[1], atol=1e-5)


def test_time_and_label_conditioning():
    net = randomised(num_classes=3)
    x = one_hot(torch.randint(0, 5, (1, 8), generator=torch.Generator().manual_seed(3)))
    t = torch.tensor([0.2])
    null = net(x, t, {})["seq"]
    assert torch.equal(null, net(x, t, {"label": torch.tensor([-1])})["seq"])
    assert torch.equal(null, net(x, t, {"label": torch.tensor([3])})["seq"])
    assert (null - net(x, t, {"label": torch.tensor([1])})["seq"]).abs().max() > 1e-3
    assert (null - net(x, torch.tensor([0.7]), {})["seq"]).abs().max() > 1e-3


def test_label_dropout_only_in_training():
    net = randomised(num_classes=2, label_drop_prob=1.0)
    x, t = one_hot(torch.zeros(1, 6, dtype=torch.long)), torch.tensor([0.4])
    null = net(x, t, {})["seq"]
    net.train()
    assert torch.equal(net(x, t, {"label": torch.tensor([1])})["seq"], null)
    net.eval()
    assert not torch.equal(net(x, t, {"label": torch.tensor([1])})["seq"], null)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="divisible by heads"):
        SequenceTransformer(width=30, heads=4)


def test_learns_to_fill_masked_positions():
    """Four fixed patterns, half the positions masked: the unmasked half identifies the pattern."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    patterns = torch.randint(0, 4, (4, 10))
    net = SequenceTransformer(vocab_size=5, width=32, depth=2, heads=4, max_length=10)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)

    def corrupted(batch: int):
        clean = patterns[torch.randint(0, 4, (batch,))]
        masked = torch.rand(batch, 10) < 0.5
        return clean, masked, one_hot(torch.where(masked, 4, clean))

    for _ in range(120):
        clean, masked, x = corrupted(32)
        logits = net(x, torch.full((32,), 0.5), {})["seq"]
        loss = F.cross_entropy(logits[masked], clean[masked])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    clean, masked, x = corrupted(256)
    with torch.no_grad():
        prediction = net(x, torch.full((256,), 0.5), {})["seq"].argmax(-1)
    assert (prediction[masked] == clean[masked]).float().mean() > 0.9


def test_self_conditioning_reads_the_previous_estimate_and_zeros_without_one():
    net = randomised(self_conditioning=True)
    tokens = torch.randint(0, 5, (2, 12), generator=torch.Generator().manual_seed(4))
    x, t = one_hot(tokens), torch.tensor([0.3, 0.8])
    mask = torch.arange(12)[None, :] < torch.tensor([[7], [12]])
    previous = torch.rand(2, 12, 5, generator=torch.Generator().manual_seed(5)).softmax(-1)
    without = net(x, t, {"mask": mask})["seq"]
    zeros = net(x, t, {"mask": mask, SELF_CONDITION: {"seq": torch.zeros_like(previous)}})["seq"]
    given = net(x, t, {"mask": mask, SELF_CONDITION: {"seq": previous}})["seq"]
    assert torch.equal(without, zeros) and (given - without).abs().max() > 1e-3
    padded_changed = previous.clone()
    padded_changed[0, 7:] = padded_changed[0, 7:].flip(-1)  # the estimate on padding never reaches real positions
    again = net(x, t, {"mask": mask, SELF_CONDITION: {"seq": padded_changed}})["seq"]
    assert torch.allclose(again[0, :7], given[0, :7], atol=1e-5) and torch.allclose(again[1], given[1], atol=1e-5)


def test_self_conditioned_network_learns_to_use_its_estimate():
    """Every position masked: only the previous estimate (a noisy copy of the clean sequence) can tell the
    tokens, so the network beats chance by far only if it reads it."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = SequenceTransformer(vocab_size=5, width=32, depth=2, heads=4, max_length=10, self_conditioning=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)

    def batch(size: int):
        clean = torch.randint(0, 4, (size, 10))
        estimate = (F.one_hot(clean, 5).float() + 0.5 * torch.rand(size, 10, 5)).softmax(-1)
        return clean, one_hot(torch.full((size, 10), 4)), {SELF_CONDITION: {"seq": estimate}}

    for _ in range(100):
        clean, x, context = batch(32)
        loss = F.cross_entropy(net(x, torch.full((32,), 0.9), context)["seq"].flatten(0, 1), clean.flatten())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    clean, x, context = batch(256)
    with torch.no_grad():
        accuracy = (net(x, torch.full((256,), 0.9), context)["seq"].argmax(-1) == clean).float().mean()
    assert accuracy > 0.95  # chance: 0.25
