"""Grow a trained :class:`~domains.seismic.trace_grid.TraceGridDenoiser` deeper without changing its function.

Every block of the trace-grid network is residual, ``h <- h + W_mix act(conv_d(h) + E emb(t))``, so a block
whose 1x1 output convolution ``W_mix`` (weight and bias) is exactly zero is the identity map
``h <- h + 0``. A deeper network whose dilation list contains the trained one's as a subsequence, with the
trained blocks copied into those positions, every other layer (input, time embedding, output) copied and
the new blocks' ``W_mix`` set to zero, therefore computes exactly the trained function (up to float
rounding of the additions of zeros, i.e. bit for bit). The new blocks' ``conv`` and ``embedding`` keep their
fresh random initialisation, so ``d loss / d W_mix = grad_h act(conv_d(h) + E emb)`` is non-zero and training
switches them on from the first step.

:func:`grow_trace_grid` does this for two networks, :func:`grow_checkpoint` for a Lightning checkpoint (the
network and its EMA copy), and ``python -m domains.seismic.growth OLD.ckpt --old_config OLD.yaml --config
NEW.yaml --out GROWN.ckpt`` from the command line; the grown checkpoint loads with ``--init_ckpt`` (benchmark)
or ``--ckpt_path`` (``sciddm reconstruct``) under ``NEW.yaml``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from domains.seismic.trace_grid import TraceGridDenoiser
from sciddm.checkpoints import load_model
from sciddm.errors import ConfigError
from sciddm.io import atomic_path


def block_positions(old: Sequence[int], new: Sequence[int]) -> list[int]:
    """Positions in ``new`` of the blocks of ``old``: the leftmost embedding of ``old`` as a subsequence of
    ``new`` (so ``new = old + extra`` appends the extra blocks after the trained ones)."""
    positions, start = [], 0
    for dilation in old:
        try:
            start = list(new).index(dilation, start)
        except ValueError:
            raise ConfigError(f"the dilations {list(old)} are not a subsequence of {list(new)}") from None
        positions.append(start)
        start += 1
    return positions


@torch.no_grad()
def grow_trace_grid(old: TraceGridDenoiser, new: TraceGridDenoiser,
                    positions: Sequence[int] | None = None) -> TraceGridDenoiser:
    """Copy ``old`` into the deeper ``new`` in place (module docstring) and return ``new``: old block ``k``
    goes to block ``positions[k]`` (default :func:`block_positions`), every other block's ``mix`` is zeroed."""
    if (old.samples, old.volume_keys, old.trace_keys, old.field) != (new.samples, new.volume_keys,
                                                                      new.trace_keys, new.field):
        raise ConfigError("grown trace-grid network must read the same samples, fields and conditions")
    positions = block_positions(old.dilations, new.dilations) if positions is None else list(positions)
    if len(positions) != len(old.dilations) or len(set(positions)) != len(positions) or any(
            new.dilations[p] != d for p, d in zip(positions, old.dilations, strict=True)):
        raise ConfigError(f"block positions {positions} do not place dilations {list(old.dilations)} "
                          f"into {list(new.dilations)}")
    for name in ("time_embedding", "input", "output"):
        _copy(getattr(old, name), getattr(new, name))
    for index, block in enumerate(new.blocks):
        if index in positions:
            _copy(old.blocks[positions.index(index)], block)
        else:
            nn.init.zeros_(block.mix.weight)
            nn.init.zeros_(block.mix.bias)
    return new


def _copy(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters and buffers; raises ``ConfigError`` if shapes differ (e.g. another channel count)."""
    try:
        target.load_state_dict(source.state_dict())
    except RuntimeError as error:
        raise ConfigError(f"cannot grow the trace-grid network: {str(error).splitlines()[0]}") from None


def trace_grid_networks(module: nn.Module) -> list[TraceGridDenoiser]:
    """The module's trace-grid networks in a fixed order (the trained one, then its EMA copy if any)."""
    networks = [m for m in module.modules() if isinstance(m, TraceGridDenoiser)]
    if not networks:
        raise ConfigError("the config's model contains no TraceGridDenoiser")
    return networks


def grow_checkpoint(old_ckpt: str | Path, old_config: str | Path, config: str | Path, out: str | Path,
                    positions: Sequence[int] | None = None) -> Path:
    """Write to ``out`` (atomically) a checkpoint of ``config``'s model whose trace-grid networks (network and
    EMA) are those of ``old_ckpt`` (a model of ``old_config``) grown by :func:`grow_trace_grid`; it keeps the
    old ``global_step`` and no optimiser state."""
    old_module, _, _ = load_model(old_config, old_ckpt)
    checkpoint = torch.load(old_ckpt, map_location="cpu", weights_only=True)
    new_module, _, _ = load_model(config)
    old_networks, new_networks = trace_grid_networks(old_module), trace_grid_networks(new_module)
    if len(old_networks) != len(new_networks):
        raise ConfigError("old and new configs differ in their EMA setting")
    for old, new in zip(old_networks, new_networks, strict=True):
        grow_trace_grid(old, new, positions)
    _copy_extra_state(old_module, new_module)
    out = Path(out)
    with atomic_path(out) as temporary:
        torch.save({"state_dict": new_module.state_dict(), "global_step": checkpoint["global_step"]}, temporary)
    return out


def _copy_extra_state(old_module: nn.Module, new_module: nn.Module) -> None:
    """Copy the state outside the trace-grid networks (e.g. the EMA's update counter)."""
    old_state = old_module.state_dict()
    new_state = new_module.state_dict()
    grid_names = {name for name, m in new_module.named_modules() if isinstance(m, TraceGridDenoiser)}
    for key in new_state:
        if not any(key.startswith(f"{name}.") for name in grid_names) and key in old_state:
            new_state[key] = old_state[key]
    new_module.load_state_dict(new_state)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_ckpt")
    parser.add_argument("--old_config", required=True)
    parser.add_argument("--config", required=True, help="config of the deeper network")
    parser.add_argument("--out", required=True)
    parser.add_argument("--positions", type=int, nargs="+", default=None,
                        help="positions of the trained blocks in the new dilation list (default: leftmost)")
    args = parser.parse_args(argv)
    print(grow_checkpoint(args.old_ckpt, args.old_config, args.config, args.out, args.positions))


if __name__ == "__main__":
    main()
