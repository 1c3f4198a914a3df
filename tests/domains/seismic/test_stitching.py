import numpy as np
import pytest
import torch

from domains.seismic.denoisers import UNet3dDenoiser
from domains.seismic.stitching import blend_window, patch_starts, stitch
from sciddm.errors import ConfigError


def identity(patches: dict[str, torch.Tensor]) -> torch.Tensor:
    return patches["volume"]


@pytest.mark.parametrize(("shape", "patch", "overlap"), [
    ((13, 10, 21), (8, 8, 16), (3, 2, 5)),
    ((5, 10, 21), (8, 4, 8), (0, 1, 7)),  # first axis smaller than the patch: padded and cropped
])
def test_identity_model_reproduces_the_volume_exactly(shape, patch, overlap):
    volume = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))
    stitched = stitch(identity, {"volume": volume}, patch, overlap, batch_size=3)
    assert stitched.dtype == torch.float32
    assert torch.equal(stitched, volume)


def test_pointwise_model_commutes_with_patching():
    volume = torch.randn(2, 9, 9, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mask = (torch.rand(1, 9, 9, 9, generator=torch.Generator().manual_seed(2)) > 0.5).double()
    stitched = stitch(lambda p: p["volume"] ** 2 * p["mask"], {"volume": volume, "mask": mask}, (4, 5, 6), 2)
    torch.testing.assert_close(stitched, volume**2 * mask, rtol=1e-14, atol=1e-14)


def test_overlapping_predictions_are_blended_with_the_linear_taper():
    calls = []

    def patch_number(patches):
        calls.append(len(calls))
        return torch.full_like(patches["volume"], float(len(calls) - 1))

    stitched = stitch(patch_number, {"volume": torch.zeros(1, 1, 1, 10)}, (1, 1, 6), (0, 0, 2))
    # patches start at 0 and 4; weights over a patch are [1/3, 2/3, 1, 1, 2/3, 1/3]
    expected = [0, 0, 0, 0, 1 / 3, 2 / 3, 1, 1, 1, 1]
    np.testing.assert_allclose(stitched[0, 0, 0].numpy(), expected, rtol=1e-7)
    assert calls == [0, 1]


def test_patch_starts_and_window_by_hand():
    assert patch_starts(10, 6, 2) == [0, 4]
    assert patch_starts(11, 6, 2) == [0, 4, 5]
    assert patch_starts(6, 6, 0) == [0]
    window = blend_window((1, 2, 4), (0, 0, 1))
    np.testing.assert_allclose(window[0, 0].numpy(), [0.5, 1, 1, 0.5])
    assert window.shape == (1, 2, 4)


def test_bad_overlap_and_mismatched_inputs_are_config_errors():
    with pytest.raises(ConfigError, match="overlap"):
        stitch(identity, {"volume": torch.zeros(1, 8, 8, 8)}, (4, 4, 4), 4)
    with pytest.raises(ConfigError, match="differ in size"):
        stitch(identity, {"volume": torch.zeros(1, 8, 8, 8), "mask": torch.zeros(1, 8, 8, 7)}, (4, 4, 4))


def test_a_survey_of_one_patch_gives_exactly_the_network_output():
    torch.manual_seed(0)
    net = UNet3dDenoiser(channels=(4, 8), time_dim=8, groups=2).eval()
    survey = {name: torch.randn(1, 4, 4, 8) for name in ("volume", "observed", "mask")}
    t = torch.full((1,), 0.5)

    def denoise(patches):
        return net({"volume": patches["volume"]}, t.expand(len(patches["volume"])), patches)["volume"]

    with torch.no_grad():
        stitched = stitch(denoise, survey, (4, 4, 8))
        direct = denoise({name: tensor[None] for name, tensor in survey.items()})[0]
    assert torch.equal(stitched, direct)
