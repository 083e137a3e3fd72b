"""The `textgen` task end to end (quick mode on tiny sizes), `neuralab generate`, the training windows, the
stateful validation loss, and a learns-something floor."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import neuralab
from neuralab.cli import app
from neuralab.data.chars import CharVocab
from neuralab.errors import ConfigError, DataError
from neuralab.models.char_rnn import sequence_cross_entropy
from neuralab.tasks import TaskOptions, run_task
from neuralab.tasks.textgen import RandomWindows, generate_text, load_generator, stateful_loss, windows

runner = CliRunner()
TINY = {"max_chars": "6000", "steps": "4", "sample_length": "30", "hidden": "16", "embed": "8"}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_task("textgen", TaskOptions(quick=True, out=out, progress=False, extra=dict(TINY)))


def test_writes_a_complete_run(result):
    d = result.run_dir
    for name in ("metrics.json", "history.csv", "report.md", "report.html", "model/config.json",
                 "plots/history_curves.png"):
        assert (d / name).is_file(), name
    m = json.loads((d / "metrics.json").read_text())
    assert m["train_chars"] + m["val_chars"] == 6000 and m["val_chars"] == 600
    assert m["val_perplexity"] == pytest.approx(math.exp(m["val_loss_nats_per_char"]))
    assert m["val_bits_per_char"] == pytest.approx(m["val_loss_nats_per_char"] / math.log(2))
    assert 0 < m["val_loss_nats_per_char"] < math.log(m["vocab_size"]) + 0.5
    report = (d / "report.md").read_text()
    assert report.count("τ = ") >= 6 and "neuralab generate" in report
    cfg = json.loads((d / "model" / "config.json").read_text())
    assert cfg["extra"]["kind"] == "char-generator" and len(cfg["extra"]["vocab"]["chars"]) == m["vocab_size"]


def test_generate_command_is_reproducible(result):
    model_dir = str(result.run_dir / "model")
    args = ["generate", model_dir, "--seed-text", "def ", "--length", "50", "--temperature", "0.8", "--seed", "3"]
    a, b = runner.invoke(app, args), runner.invoke(app, args)
    assert a.exit_code == 0, a.output
    assert a.output == b.output and a.output.startswith("def ") and len(a.output) == 4 + 50 + 1
    c = runner.invoke(app, args[:-1] + ["4"])
    assert c.output != a.output
    model, vocab = load_generator(model_dir)
    assert a.output == "def " + generate_text(model, vocab, "def ", 50, 0.8, seed=3) + "\n"


@pytest.mark.parametrize("args, message", [
    (["--seed-text", "déf"], "seed text: character 'é' at position 1 is not in the model's vocabulary"),
    (["--seed-text", ""], "the seed text is empty"),
    (["--temperature", "-1"], "temperature must be a finite number >= 0"),
    (["--length", "0"], "length must be >= 1"),
])
def test_generate_errors_are_one_line(result, args, message):
    r = runner.invoke(app, ["generate", str(result.run_dir / "model"), *args])
    assert r.exit_code == 2 and message in r.output and r.output.count("\n") == 1


def test_generate_refuses_a_model_that_is_not_a_generator(tmp_path):
    neuralab.save_model(neuralab.get_model("mlp"), tmp_path / "m")
    r = runner.invoke(app, ["generate", str(tmp_path / "m")])
    assert r.exit_code == 2 and "not a character generator" in r.output


def test_bad_data_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bin.txt"
    bad.write_bytes(b"hello\x00world")
    r = runner.invoke(app, ["run", "textgen", "--quick", "--data", str(bad), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "NUL byte at byte offset 5" in r.output
    short = tmp_path / "short.txt"
    short.write_text("abc\n" * 10)
    with pytest.raises(DataError, match="too short to validate"):
        run_task("textgen", TaskOptions(quick=True, data=short, out=tmp_path))
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        run_task("textgen", TaskOptions(quick=True, out=tmp_path, extra={"steps": "0"}))


def test_random_windows_are_next_character_pairs_and_reseedable():
    ids = torch.arange(50)
    loader = RandomWindows(ids, seq_len=7, batch_size=3, steps=4)
    loader.generator.manual_seed(1)
    batches = list(loader)
    assert len(batches) == 4
    for x, y in batches:
        assert x.shape == y.shape == (3, 7)
        assert torch.equal(y, x + 1) and int(y.max()) <= 49
    loader.generator.manual_seed(1)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, loader, strict=True))
    x, y = windows(ids, 10)
    assert x.shape == (4, 10) and torch.equal(y, x + 1)
    with pytest.raises(DataError, match="seq_len=60 needs at least 62"):
        RandomWindows(ids, seq_len=60, batch_size=2, steps=1)


def test_stateful_loss_is_the_cross_entropy_of_the_whole_text():
    torch.manual_seed(0)
    model = neuralab.get_model("char-rnn", vocab_size=5, cell="lstm", embed_dim=3, hidden_size=4)
    ids = torch.randint(0, 5, (301,))
    with torch.no_grad():
        expected = F.cross_entropy(model.eval()(ids[None, :-1])[0], ids[1:])
    assert stateful_loss(model, ids, streams=1, chunk=64) == pytest.approx(float(expected), rel=1e-5)


def test_learns_a_periodic_text():
    # learns-something floor: the next character of a repeated 8-character word is certain after 2 steps
    torch.manual_seed(0)
    vocab = CharVocab.fit("abcdefgh")
    ids = vocab.encode("abcdhgfe" * 60)
    model = neuralab.get_model("char-rnn", vocab_size=len(vocab), cell="gru", embed_dim=8, hidden_size=32)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    loader = RandomWindows(ids, seq_len=16, batch_size=16, steps=60)
    for x, y in loader:
        opt.zero_grad()
        sequence_cross_entropy(model(x), y).backward()
        opt.step()
    assert stateful_loss(model, ids, streams=1) < 0.1  # ln 8 = 2.08 for a uniform guess
    assert generate_text(model, vocab, "abcd", 8, 0.0) == "hgfeabcd"


def test_time_limit_stops_after_the_epoch_that_passes_it():
    from types import SimpleNamespace

    from neuralab.tasks.textgen import TimeLimit
    from neuralab.train.trainer import History

    trainer = SimpleNamespace(history=History([{"seconds": 50.0}]), stop_training=False)
    cb = TimeLimit(minutes=1.5)
    cb.on_epoch_end(trainer, 0, {})
    assert not trainer.stop_training
    trainer.history.append({"seconds": 41.0})
    cb.on_epoch_end(trainer, 1, {})
    assert trainer.stop_training
