import pytest
import torch

from domains.seismic.denoisers import SinusoidalTimeEmbedding, UNet3dDenoiser
from sciddm.errors import ConfigError

SHAPE = (2, 1, 8, 8, 16)


def small_unet() -> UNet3dDenoiser:
    torch.manual_seed(0)
    return UNet3dDenoiser(channels=(8, 16), blocks_per_level=1, time_dim=16, groups=4)


def inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    volume = torch.randn(SHAPE, generator=generator)
    mask = (torch.rand(SHAPE[0], 1, 8, 8, 1, generator=generator) > 0.5).float().expand(SHAPE)
    return {"volume": torch.randn(SHAPE, generator=generator)}, torch.rand(2, generator=generator), \
        {"observed": volume * mask, "mask": mask}


def test_time_embedding_at_zero_is_sines_zero_and_cosines_one():
    embedding = SinusoidalTimeEmbedding(8)(torch.zeros(3))
    assert torch.equal(embedding, torch.cat([torch.zeros(3, 4), torch.ones(3, 4)], dim=1))


def test_examples_in_a_batch_do_not_influence_each_other():
    net = small_unet().eval()
    x, t, context = inputs()
    together = net(x, t, context)["volume"]
    alone = net({"volume": x["volume"][:1]}, t[:1], {k: v[:1] for k, v in context.items()})["volume"]
    assert together.shape == SHAPE
    torch.testing.assert_close(together[:1], alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("changed", ["observed", "mask", "time"])
def test_output_depends_on_the_conditions_and_on_time(changed):
    net = small_unet().eval()
    x, t, context = inputs()
    before = net(x, t, context)["volume"]
    if changed == "time":
        t = 1 - t
    else:
        context = {**context, changed: 1 - context[changed]}
    after = net(x, t, context)["volume"]
    assert (after - before).abs().mean() > 1e-3 * before.abs().mean()


def test_a_few_steps_fit_a_fixed_target():
    torch.set_num_threads(1)
    net = small_unet()
    x, t, context = inputs()
    target = context["observed"] + 0.5 * x["volume"]
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = torch.mean((net(x, t, context)["volume"] - target) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_patch_sizes_must_divide_by_the_downsampling_factor():
    net = UNet3dDenoiser(channels=(4, 8, 8), time_dim=8, groups=4)
    x, t, context = inputs()
    cropped = {"volume": x["volume"][:, :, :, :6]}, {k: v[:, :, :, :6] for k, v in context.items()}
    with pytest.raises(ConfigError, match=r"patch sizes \(8, 6, 16\) must be divisible by 4"):
        net(cropped[0], t, cropped[1])


def test_residual_network_starts_at_the_first_guess_and_learns_a_correction():
    torch.manual_seed(0)
    net = UNet3dDenoiser(channels=(8, 16), time_dim=16, groups=4, condition_keys=("observed", "mask", "guess"),
                         residual_key="guess")
    x, t, context = inputs()
    context["guess"] = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5))
    assert torch.equal(net(x, t, context)["volume"], context["guess"])
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    torch.mean((net(x, t, context)["volume"] - context["observed"]) ** 2).backward()
    optimiser.step()
    assert not torch.equal(net(x, t, context)["volume"], context["guess"])
