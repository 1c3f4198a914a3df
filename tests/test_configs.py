"""Every shipped config still matches the code: class paths resolve and every init argument is accepted
(LightningCLI's parse, without building data or models), so a renamed argument cannot leave a stale config."""

from pathlib import Path

import pytest

from sciddm.cli import main

ROOT = Path(__file__).resolve().parents[1] / "configs"
OVERLAYS = sorted((ROOT / "overlays").glob("*.yaml"))  # partial configs, stacked on a full one
CONFIGS = sorted(set(ROOT.rglob("*.yaml")) - set(OVERLAYS))


def parse(*configs: Path) -> int:
    try:
        return main(["fit", *(arg for config in configs for arg in ("--config", str(config))), "--print_config"])
    except SystemExit as exit_:  # LightningCLI exits after printing
        return exit_.code


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_config_parses_against_the_code(config, capsys):
    assert parse(config) == 0, capsys.readouterr().err


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda path: path.name)
def test_overlay_parses_on_top_of_a_full_config(overlay, capsys):
    assert parse(ROOT / "molecules" / "qm9.yaml", overlay) == 0, capsys.readouterr().err


def test_a_stale_argument_is_caught(tmp_path, capsys):
    """The check above can fail: a misspelt init argument of the toy network is rejected, naming it."""
    quickstart = next(path for path in CONFIGS if path.parent.name == "toy")
    stale = tmp_path / "stale.yaml"
    stale.write_text(quickstart.read_text().replace("hidden: 256", "hiden: 256"))
    assert parse(stale) == 2
    assert "Option 'hiden' is not accepted" in capsys.readouterr().err
