r"""Inpainting by replacement (the RePaint step, Lugmayr et al. 2022), as a step hook; RePaint's resampling
(jumping back in time between repeats of each step) is ``Sampler(resample=r)``.

After each solver step to time ``s`` the known entries are overwritten by a fresh forward-process draw of
the known data, :math:`x_s \leftarrow M\odot q(x_s\mid y) + (1-M)\odot x_s`, so the unknown part is generated
consistently with the known part; after the last (clean) step the known entries are exactly :math:`y`.
The known values ``y`` and the mask ``M`` (1 = known) are read from the context, so the hook works batch by
batch inside ``predict``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sciddm.fields import Context, Field


class Inpainting:
    """Step hook replacing ``field``'s known entries (``context[known_key]`` where ``context[mask_key]`` is 1)."""

    def __init__(self, fields: dict[str, Field], field: str, known_key: str = "observed", mask_key: str = "mask"):
        self.target = fields[field]
        self.field = field
        self.known_key = known_key
        self.mask_key = mask_key

    def __call__(self, state: dict[str, Tensor], s: float | None, context: Context,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
        known = context[self.known_key].to(state[self.field].dtype)
        mask = context[self.mask_key].to(state[self.field].dtype)
        if s is None or self.target.is_terminal(s):
            replacement = known
        else:
            times = torch.full((known.shape[0],), s, device=known.device)
            replacement = self.target.corrupt(known, times, context, generator)[0]
        return {**state, self.field: mask * replacement + (1 - mask) * state[self.field]}
