"""Growing the trace-grid network deeper keeps its function exactly (zeroed new ``mix`` convolutions), places
the trained blocks where asked, lets gradients reach the new blocks, and grows whole checkpoints (network and
EMA) that load under the deeper config."""

from pathlib import Path

import pytest
import torch
import yaml

from domains.seismic.growth import block_positions, grow_checkpoint, grow_trace_grid
from domains.seismic.trace_grid import TraceGridDenoiser
from sciddm.checkpoints import build_cli, load_model
from sciddm.errors import ConfigError
from sciddm.lightning.optimization import parameter_groups

SAMPLES, GRID = 6, 12


def network(dilations, seed: int, channels: int = 8) -> TraceGridDenoiser:
    torch.manual_seed(seed)
    return TraceGridDenoiser(SAMPLES, channels=channels, dilations=dilations, time_dim=8, output_init=0.5).double()


def inputs(seed: int) -> tuple[dict, torch.Tensor, dict]:
    generator = torch.Generator().manual_seed(seed)
    shape = (2, 1, GRID, GRID, SAMPLES)
    mask = (torch.rand(2, 1, GRID, GRID, 1, generator=generator) > 0.5).double().expand(shape)
    volume = torch.randn(shape, generator=generator, dtype=torch.float64)
    context = {"observed": volume * mask, "mask": mask,
               "interpolated": torch.randn(shape, generator=generator, dtype=torch.float64)}
    return ({"volume": torch.randn(shape, generator=generator, dtype=torch.float64)}, torch.tensor([0.3, 0.9]),
            context)


def test_block_positions_is_the_leftmost_subsequence_embedding():
    assert block_positions([1, 2], [1, 2, 4, 8]) == [0, 1]
    assert block_positions([1, 2, 1], [4, 1, 8, 2, 1, 1]) == [1, 3, 4]
    with pytest.raises(ConfigError, match="not a subsequence"):
        block_positions([2, 1], [1, 2])


@pytest.mark.parametrize("new_dilations, positions", [((1, 2, 4, 8), None), ((8, 1, 4, 2), [1, 3])])
def test_the_grown_network_computes_the_trained_function(new_dilations, positions):
    """Appended or interleaved new blocks: same outputs to the last bit, since each new block adds 0."""
    old = network((1, 2), seed=0)
    new = grow_trace_grid(old, network(new_dilations, seed=1), positions)
    x_t, t, context = inputs(2)
    before, after = old(x_t, t, context)["volume"], new(x_t, t, context)["volume"]
    assert before.abs().max() > 0.1  # a non-trivial function
    assert torch.equal(before, after)
    placed = [1, 3] if positions else [0, 1]
    for k, index in enumerate(placed):
        assert torch.equal(new.blocks[index].conv.weight, old.blocks[k].conv.weight)
    fresh = [i for i in range(len(new_dilations)) if i not in placed]
    assert all(not new.blocks[i].mix.weight.any() and not new.blocks[i].mix.bias.any() for i in fresh)


def test_the_new_blocks_get_gradients_from_the_first_step():
    """``d loss / d W_mix = grad_h act(conv(h) + E emb)`` is non-zero although ``W_mix = 0``; the new blocks'
    ``conv`` receives none until ``W_mix`` moves (it only reaches the output through ``W_mix``)."""
    new = grow_trace_grid(network((1,), seed=0), network((1, 4), seed=1))
    x_t, t, context = inputs(3)
    new(x_t, t, context)["volume"].square().sum().backward()
    assert new.blocks[1].mix.weight.grad.abs().max() > 1e-6
    assert not new.blocks[1].conv.weight.grad.any()


def test_mismatched_networks_and_positions_are_rejected():
    old = network((1, 2), seed=0)
    with pytest.raises(ConfigError, match="cannot grow"):
        grow_trace_grid(old, network((1, 2, 4), seed=1, channels=12))
    with pytest.raises(ConfigError, match="do not place"):
        grow_trace_grid(old, network((1, 2, 4), seed=1), positions=[0, 2])
    with pytest.raises(ConfigError, match="do not place"):
        grow_trace_grid(old, network((1, 2, 4), seed=1), positions=[0])


def tiny_config(tmp_path: Path, name: str, dilations: list[int]) -> Path:
    """configs/seismic/trace_grid_deep.yaml with 4 channels and the given dilations."""
    config = yaml.safe_load(Path("configs/seismic/trace_grid_deep.yaml").read_text())
    inner = config["model"]["init_args"]["network"]["init_args"]["network"]["init_args"]
    inner.update(channels=4, dilations=dilations)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_grown_checkpoint_loads_under_the_deeper_config_with_the_same_network_and_ema(tmp_path):
    """The old model's network and EMA copy differ (the EMA is perturbed); both survive growth."""
    old_config, new_config = tiny_config(tmp_path, "old.yaml", [1, 2]), tiny_config(tmp_path, "new.yaml", [1, 2, 8])
    old, _, _ = load_model(old_config)
    with torch.no_grad():
        for parameter in old.ema.module.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    old_ckpt = tmp_path / "old.ckpt"
    torch.save({"state_dict": old.state_dict(), "global_step": 42}, old_ckpt)
    out = grow_checkpoint(old_ckpt, old_config, new_config, tmp_path / "grown.ckpt")
    new, _, _ = load_model(new_config, out)
    assert torch.load(out, weights_only=True)["global_step"] == 42
    x_t, t, context = inputs(4)
    x_t, context = {"volume": x_t["volume"].float()[..., :1].expand(2, 1, GRID, GRID, 32)}, {
        k: v.float()[..., :1].expand(2, 1, GRID, GRID, 32) for k, v in context.items()}
    for before, after in ((old.network, new.network), (old.ema.module, new.ema.module)):
        assert torch.equal(before(x_t, t, context)["volume"], after(x_t, t, context)["volume"])
    assert not torch.equal(old.network(x_t, t, context)["volume"], old.ema.module(x_t, t, context)["volume"])
    assert int(new.ema.n_averaged) == int(old.ema.n_averaged)


def test_the_deep_config_extends_the_trained_dilations():
    """configs/seismic/trace_grid_deep.yaml starts with trace_grid.yaml's blocks (growth appends after them)."""
    load = lambda name: yaml.safe_load(Path(f"configs/seismic/{name}.yaml").read_text())[  # noqa: E731
        "model"]["init_args"]["network"]["init_args"]["network"]["init_args"]
    old, new = load("trace_grid"), load("trace_grid_deep")
    assert block_positions(old["dilations"], new["dilations"]) == list(range(len(old["dilations"])))
    assert {k: v for k, v in old.items() if k != "dilations"} == {k: v for k, v in new.items() if k != "dilations"}


def test_the_new_blocks_config_puts_exactly_the_grown_blocks_at_ten_times_the_learning_rate():
    """configs/seismic/trace_grid_new_blocks.yaml: trace_grid_deep.yaml's network; its lr_multipliers give the 7
    appended blocks (7-13) 10 x the base rate and every other parameter the base rate."""
    model = build_cli(["--config", "configs/seismic/trace_grid_new_blocks.yaml", "--trainer.logger", "false"]).model
    deep = yaml.safe_load(Path("configs/seismic/trace_grid_deep.yaml").read_text())["model"]["init_args"]
    assert model.network.network.dilations == tuple(deep["network"]["init_args"]["network"]["init_args"]["dilations"])
    rates = {id(p): group["lr"] for group in parameter_groups(model.network, model.lr, model.lr_multipliers)
             for p in group["params"]}
    for name, parameter in model.network.named_parameters():
        grown = name.startswith("network.blocks.") and int(name.split(".")[2]) >= 7
        assert rates[id(parameter)] == pytest.approx(model.lr * (10 if grown else 1)), name
