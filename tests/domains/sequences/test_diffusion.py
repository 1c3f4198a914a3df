"""Sequences on the core's discrete diffusion: the DiffusionDataModule hooks, the configs, and the CLI end to end
(train, sample to FASTA, evaluate with the NELBO under a checkpoint), including bad input through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from domains.sequences.data import SequenceDataModule, load_ars
from domains.sequences.fasta import read_fasta, records_from_strings, write_fasta
from domains.sequences.likelihood import nelbo_of_file
from sciddm.checkpoints import build_cli
from sciddm.cli import main
from sciddm.sampling import Sampler

ARS_CONFIG = Path("configs/sequences/ars_dna.yaml")


def test_template_draws_training_lengths_and_pads():
    module = SequenceDataModule(source="amp", max_sequences=300, batch_size=16)
    template, context = module.sample_template(64, torch.Generator().manual_seed(0))
    again, _ = module.sample_template(64, torch.Generator().manual_seed(0))
    pad = module.alphabet.pad_index
    assert torch.equal(template["seq"], again["seq"])
    assert (template["seq"][~context["mask"]] == pad).all() and (template["seq"][context["mask"]] == 0).all()
    train_lengths = set(module.splits["train"].mask.sum(1).tolist())
    lengths = context["mask"].sum(1)
    assert set(lengths.tolist()) <= train_lengths and len(set(lengths.tolist())) > 10
    assert torch.equal(context["mask"], torch.arange(context["mask"].shape[1]) < lengths[:, None])


def test_written_samples_round_trip_and_padding_inside_is_unknown(tmp_path):
    module = SequenceDataModule(source="amp", max_sequences=300, batch_size=16)
    pad = module.alphabet.pad_index
    seq = torch.tensor([[0, 1, 2, pad], [3, pad, 4, 5]])
    context = {"mask": torch.tensor([[True, True, True, False], [True, True, True, True]])}
    path = module.write_samples({"seq": seq}, context, tmp_path / "s.fasta")
    assert [r.sequence for r in read_fasta(path)] == ["ACD", "EXFG"]
    metrics = module.evaluate_samples({"seq": seq}, context)
    assert metrics["validity"] == 0.5 and metrics["num_sequences"] == 2


def test_validation_sequences_score_perfectly_against_themselves(tmp_path):
    module = SequenceDataModule(source="ww", reference_size=300)
    module.setup()
    val = module.splits["val"].subset(np.arange(300))
    samples, context = val.batch(list(range(300)))
    metrics = module.evaluate_samples(samples, context)
    assert metrics["kmer3_pearson"] == pytest.approx(1.0) and metrics["kmer3_js_distance"] == pytest.approx(0, abs=1e-6)
    assert metrics["aa_composition_tv"] == pytest.approx(0, abs=1e-12)
    picture = module.render_samples(samples, context, tmp_path / "pic" / "s.png")
    assert picture.read_bytes().startswith(b"\x89PNG") and picture.stat().st_size > 10_000


def test_ww_config_matches_its_alphabet():
    cli = build_cli(["--config", "configs/sequences/ww_protein.yaml", "--trainer.logger", "false"])
    field = cli.model.fields["seq"]
    assert field.num_classes == cli.datamodule.alphabet.size == 22
    assert cli.model.network.embed.in_features == field.path.num_states == 23


def test_self_conditioned_transformer_trains_and_samples_under_the_mask_prior():
    """The core hands back estimates over the 22 amino acids while the network reads 23 states (mask token): the
    self-conditioned pass of training and every sampling step after the first must accept them."""
    cli = build_cli(["--config", "configs/sequences/ww_protein.yaml", "--trainer.logger", "false",
                     "--model.init_args.network.init_args.self_conditioning", "true",
                     "--model.init_args.network.init_args.width", "32",
                     "--model.init_args.network.init_args.depth", "1",
                     "--model.init_args.self_conditioning_rate", "1.0", "--data.init_args.max_sequences", "200"])
    module, datamodule = cli.model, cli.datamodule
    datamodule.setup("fit")
    assert module.network.embed.in_features == 2 * 23
    torch.manual_seed(0)
    for parameter in module.network.parameters():  # random, not zero-initialised, so every input gets gradient
        torch.nn.init.normal_(parameter, std=0.05)
    batch = next(iter(datamodule.train_dataloader()))
    loss, _ = module.diffusion_loss(module.network, batch, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and module.network.embed.weight.grad[:, 23:].abs().sum() > 0
    samples, context, _ = module.sample_from(datamodule, 3, seed=0, sampler=Sampler(steps=4))
    again, _, _ = module.sample_from(datamodule, 3, seed=0, sampler=Sampler(steps=4))
    assert torch.equal(samples["seq"], again["seq"])
    assert (samples["seq"][context["mask"]] < 22).all()  # every real position unmasked to an amino acid


# ------------------------------------------------------------------------------------------- CLI end to end
@pytest.fixture(scope="module")
def small_ars(tmp_path_factory) -> dict[str, Path]:
    """A config training on the first 400 ARS sequences (150 bp), and a checkpoint after 2 optimiser steps."""
    root = tmp_path_factory.mktemp("ars")
    data = load_ars(max_rows=400)
    fasta = root / "ars400.fasta"
    write_fasta(fasta, records_from_strings(data.strings(), prefix="ars"))
    config = yaml.safe_load(ARS_CONFIG.read_text())
    config["data"]["init_args"].update(source="fasta", path=str(fasta), max_sequences=None, reference_size=40)
    config["trainer"].update(max_steps=2, check_val_every_n_epoch=1, limit_val_batches=1, enable_progress_bar=False,
                             default_root_dir=str(root))
    config["model"]["init_args"]["val_num_samples"] = 0
    config_path = root / "ars_small.yaml"
    config_path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(config_path)]) == 0
    (ckpt,) = root.glob("lightning_logs/version_0/checkpoints/*.ckpt")
    return {"config": config_path, "ckpt": ckpt, "fasta": fasta, "root": root}


def test_sample_writes_reproducible_fasta_picture_and_metrics(small_ars, tmp_path):
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name / "samples.fasta"
        assert main(["sample", "--config", str(small_ars["config"]), "--ckpt_path", str(small_ars["ckpt"]),
                     "--num_samples", "6", "--steps", "10", "--batch_size", "4", "--output", str(out)]) == 0
        outputs.append([r.sequence for r in read_fasta(out)])
        metrics = json.loads(out.with_suffix(".metrics.json").read_text())
        assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert outputs[0] == outputs[1] and len(outputs[0]) == 6
    assert all(len(s) == 150 and set(s) <= set("ACGT") for s in outputs[0])
    assert metrics["num_samples"] == 6 and metrics["validity"] == 1.0 and metrics["nfe"] <= 10


def test_evaluate_reports_the_nelbo_under_a_checkpoint(small_ars, capsys):
    """Two optimiser steps leave the zero-initialised head near uniform logits, whose NELBO is exactly
    log2(4) = 2 bits per base in expectation (the weights -a'/(1-a) integrate the masking probability to 1)."""
    args = ["evaluate", "sequences", str(small_ars["fasta"]), "--reference", str(small_ars["fasta"]),
            "--checkpoint", str(small_ars["ckpt"]), "--config", str(small_ars["config"]), "--nelbo_times", "4"]
    capsys.readouterr()
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nelbo_num_sequences"] == 400 and report["kmer3_pearson"] == pytest.approx(1.0)
    assert report["nelbo_bits_per_token"] == pytest.approx(2.0, abs=0.03)
    direct = nelbo_of_file(small_ars["fasta"], small_ars["config"], small_ars["ckpt"], num_times=4)
    assert report["nelbo_bits_per_token"] == pytest.approx(float(direct.mean()), rel=1e-12)


def test_nelbo_input_must_fit_the_model(small_ars, tmp_path, capsys):
    base = ["--checkpoint", str(small_ars["ckpt"]), "--config", str(small_ars["config"]), "--nelbo_times", "1"]
    short = tmp_path / "short.fasta"
    short.write_text(">ok\n" + "A" * 150 + "\n>short_one\nACGT\n")
    assert main(["evaluate", "sequences", str(short), *base]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(short) in last and "record short_one" in last and "exactly 150" in last
    with_n = tmp_path / "with_n.fasta"
    with_n.write_text(">ok\n" + "A" * 150 + "\n>has_n\n" + "N" * 150 + "\n")
    assert main(["evaluate", "sequences", str(with_n), *base]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "record has_n" in last and "letters 'N'" in last
    with pytest.warns(UserWarning, match="skipped 1 invalid record"):
        assert main(["evaluate", "sequences", str(with_n), *base, "--on_invalid", "skip"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nelbo_num_sequences"] == 1  # the model skips the N record; the metrics read N as unknown
    assert report["num_sequences"] == 2 and report["validity"] == 0.5


@pytest.mark.parametrize(("content", "record", "problem"), [
    (b">good\nACGT\n>bad_letters\nAC1T\n", "record bad_letters", "letters '1' are not in the dna alphabet"),
    (b">good\nACGT\n>empty_one\n>last\nAC\n", "record empty_one", "empty sequence"),
    (b"ACGT\n>late\nACGT\n", None, "missing FASTA header"),
    (b"\x89PNG\r\n\x1a\n\x00\x00garbage", None, "binary content"),
])
def test_bad_fasta_through_the_cli_is_one_line_exit_2(tmp_path, capsys, content, record, problem):
    path = tmp_path / "input.fasta"
    path.write_bytes(content)
    assert main(["evaluate", "sequences", str(path), "--alphabet", "dna"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}") and problem in err[0]
    assert record is None or record in err[0]
    assert "Traceback" not in "".join(err)


def test_invalid_records_can_be_skipped_or_replaced_explicitly(tmp_path, capsys):
    path = tmp_path / "input.fasta"
    path.write_text(">good\nACGT\n>bad_letters\nAC1T\n")
    with pytest.warns(UserWarning, match="skipped 1 invalid record"):
        assert main(["evaluate", "sequences", str(path), "--alphabet", "dna", "--on_invalid", "skip"]) == 0
    assert json.loads(capsys.readouterr().out)["num_sequences"] == 1
    with pytest.warns(UserWarning, match="replaced by 'N'"):
        assert main(["evaluate", "sequences", str(path), "--alphabet", "dna", "--on_invalid", "replace"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_sequences"] == 2 and report["validity"] == 0.5  # ACNT has an unknown letter
