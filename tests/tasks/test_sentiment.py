"""Task `sentiment`: generated corpus, quick run end to end, `neuralab predict`, data loading and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralab.cli import app
from neuralab.errors import ConfigError, DataError
from neuralab.predict import predict
from neuralab.tasks import TaskOptions, run_task
from neuralab.tasks.sentiment import generate_reviews


def test_generated_reviews_are_balanced_seeded_and_need_word_order():
    a, b, c = generate_reviews(400, seed=1), generate_reviews(400, seed=1), generate_reviews(400, seed=2)
    assert a.texts == b.texts and a.labels == b.labels
    assert a.texts != c.texts
    assert 0.4 < np.mean(a.labels) < 0.6
    assert any(" not " in t or " never " in t or " hardly " in t for t in a.texts)


def test_generated_reviews_label_noise_is_the_given_fraction():
    clean, noisy = generate_reviews(2000, seed=3, noise=0.0), generate_reviews(2000, seed=3, noise=0.25)
    flipped = np.mean(np.array(clean.labels) != np.array(noisy.labels))
    assert 0.2 < flipped < 0.3


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    # maxlen 48 keeps the verdict (the last sentence) and halves the quick run's time
    return run_task("sentiment", TaskOptions(quick=True, out=out, device="cpu", progress=False,
                                             extra={"maxlen": "48"}))


def test_quick_run_reports_and_beats_chance(quick_run):
    m = quick_run.metrics
    assert m["n_test"] == 300 and m["arch"] == "course"
    assert m["test_roc_auc"] > 0.75  # generated reviews are learnable even in 2 quick epochs
    for key in ("test_accuracy", "test_precision", "test_recall", "test_f1", "val_accuracy"):
        assert 0.0 <= m[key] <= 1.0
    assert np.sum(m["confusion_matrix"]) == 300
    saved = json.loads((quick_run.run_dir / "metrics.json").read_text())
    assert saved["test_accuracy"] == m["test_accuracy"]
    html = quick_run.report_html.read_text()
    for heading in ("ROC curve", "The most confident mistakes", "Confusion matrix"):
        assert heading in html
    assert (quick_run.run_dir / "plots" / "learning_curves.png").is_file()
    assert (quick_run.run_dir / "plots" / "roc_confusion.png").is_file()


def test_saved_model_predicts_texts(quick_run):
    model_dir = quick_run.run_dir / "model"
    extra = json.loads((model_dir / "config.json").read_text())["extra"]
    assert extra["kind"] == "text-classifier" and extra["labels"] == ["negative", "positive"]
    assert extra["maxlen"] == quick_run.metrics["maxlen"] and extra["tokenizer"]["word_index"]["<unk>"] == 1
    preds = predict(model_dir, ["The plot was brilliant. Overall it is a wonderful film.", "zzz qqq"], device="cpu")
    assert [p.input for p in preds][1] == "zzz qqq"
    for p in preds:
        assert p.label in ("negative", "positive")
        assert p.probability == pytest.approx(p.probabilities[p.label]) and p.probability >= 0.5
        assert sum(p.probabilities.values()) == pytest.approx(1.0)
    result = CliRunner().invoke(app, ["predict", str(model_dir), "This film was excellent!", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("This film was excellent!: ") and ("positive" in result.output)


def test_predict_without_tokenizer_is_a_clear_error(quick_run, tmp_path):
    import shutil

    broken = tmp_path / "model"
    shutil.copytree(quick_run.run_dir / "model", broken)
    meta = json.loads((broken / "config.json").read_text())
    del meta["extra"]["tokenizer"]
    (broken / "config.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="extra has no tokenizer/maxlen"):
        predict(broken, ["good"], device="cpu")


def _table(path, rows):
    path.write_text("label\tsentence\n" + "".join(f"{y}\t{t}\n" for t, y in rows), encoding="utf-8")


def test_runs_on_a_folder_of_tables_using_dev_as_test(tmp_path):
    reviews = generate_reviews(240, seed=5)
    rows = list(zip(reviews.texts, reviews.labels, strict=True))
    folder = tmp_path / "sst"
    folder.mkdir()
    _table(folder / "train.tsv", rows[:200])
    _table(folder / "dev.tsv", rows[200:])
    r = run_task("sentiment", TaskOptions(data=folder, out=tmp_path / "runs", epochs=1, device="cpu",
                                          progress=False, extra={"maxlen": "40", "max_words": "200"}))
    assert r.metrics["n_test"] == 40 and r.metrics["n_train"] + r.metrics["n_val"] == 200
    assert r.metrics["vocab_size"] <= 200 and r.metrics["maxlen"] == 40


def test_runs_on_an_imdb_archive_with_the_strong_model(tmp_path):
    import tarfile

    reviews = generate_reviews(120, seed=6)
    root = tmp_path / "aclImdb"
    for i, (t, y) in enumerate(zip(reviews.texts, reviews.labels, strict=True)):
        d = root / ("test" if i % 4 == 0 else "train") / ("pos" if y else "neg")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}_1.txt").write_text(t, encoding="utf-8")
    archive = tmp_path / "imdb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="aclImdb")
    r = run_task("sentiment", TaskOptions(data=archive, out=tmp_path / "runs", epochs=1, device="cpu",
                                          progress=False, extra={"arch": "strong", "maxlen": "30"}))
    assert r.metrics["n_test"] == 30 and r.metrics["arch"] == "strong"
    cfg = json.loads((r.run_dir / "model" / "config.json").read_text())["config"]
    assert cfg["bidirectional"] and cfg["use_lengths"] and cfg["pooling"] == "meanmax"


def test_bad_options_and_data(tmp_path):
    with pytest.raises(ConfigError, match="option arch='huge' of task 'sentiment': expected one of course, strong"):
        run_task("sentiment", TaskOptions(quick=True, out=tmp_path, extra={"arch": "huge"}))
    with pytest.raises(ConfigError, match=r"option test_split=1.5 .* expected a fraction in \(0, 1\)"):
        run_task("sentiment", TaskOptions(quick=True, out=tmp_path, extra={"test_split": "1.5"}))
    with pytest.raises(ConfigError, match="does not take option"):
        run_task("sentiment", TaskOptions(quick=True, out=tmp_path, extra={"nope": "1"}))
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ngood film,1\nbad film,meh\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv: line 3, column 2: label 'meh'"):
        run_task("sentiment", TaskOptions(data=bad, quick=True, out=tmp_path))


def test_cli_bad_data_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    result = CliRunner().invoke(app, ["run", "sentiment", "--data", str(empty), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "error:" in result.output and "empty.tsv: the file is empty" in result.output


def test_quick_nbsvm_run_fits_ratios_on_training_texts_and_predicts(tmp_path):
    r = run_task("sentiment", TaskOptions(quick=True, out=tmp_path, device="cpu", progress=False,
                                          extra={"arch": "nbsvm", "buckets": "20000"}))
    m = r.metrics
    assert m["arch"] == "nbsvm" and m["num_params"] == m["vocab_size"] + 20000 + 1
    assert m["test_roc_auc"] > 0.8  # measured 0.89 with the default buckets
    model_dir = r.run_dir / "model"
    cfg = json.loads((model_dir / "config.json").read_text())["config"]
    assert cfg["buckets"] == 20000 and cfg["ngrams"] == 2 and cfg["init_scale"] == 0.02
    assert "Naive Bayes log-count ratio" in r.report_html.read_text()
    preds = predict(model_dir, ["I would happily watch it again.", "I want those two hours back."], device="cpu")
    assert [p.label for p in preds] == ["positive", "negative"]  # the saved ratios travel with the weights


def test_options_of_another_arch_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="option embed_dim of task 'sentiment' does not apply to arch=nbsvm"):
        run_task("sentiment", TaskOptions(quick=True, out=tmp_path, extra={"arch": "nbsvm", "embed_dim": "8"}))
    with pytest.raises(ConfigError, match="option init_scale .* does not apply to arch=course; .* arch=nbsvm"):
        run_task("sentiment", TaskOptions(quick=True, out=tmp_path, extra={"init_scale": "0.1"}))
    with pytest.raises(ConfigError, match="bad SentimentNBSVMConfig: init_scale must be > 0"):
        run_task("sentiment", TaskOptions(quick=True, out=tmp_path, device="cpu", progress=False,
                                          extra={"arch": "nbsvm", "init_scale": "0"}))
