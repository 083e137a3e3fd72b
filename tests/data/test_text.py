"""Text tools: the Keras Tokenizer and pad_sequences semantics (by Keras' documented examples), the readers and
their error messages."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest

from neuralab.data.text import (
    LabelledTexts,
    Tokenizer,
    decode_text,
    pad_sequences,
    read_imdb,
    read_labelled_table,
    read_text_file,
)
from neuralab.errors import ConfigError, DataError


# ------------------------------------------------------------------------------------------- pad_sequences
def test_pad_sequences_keras_documented_example():
    # keras.utils.pad_sequences docs: [[1], [2, 3], [4, 5, 6]] -> [[0 0 1] [0 2 3] [4 5 6]]
    out = pad_sequences([[1], [2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    assert out.dtype == np.int64


def test_pad_sequences_keras_value_post_and_maxlen_examples():
    seqs = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(pad_sequences(seqs, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[0, 1], [2, 3], [5, 6]])  # 'pre' truncation


def test_pad_sequences_truncating_post_and_combinations():
    seqs = [[1, 2, 3, 4, 5], [7]]
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, truncating="post"), [[1, 2, 3], [0, 0, 7]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, truncating="post", padding="post"),
                                  [[1, 2, 3], [7, 0, 0]])
    np.testing.assert_array_equal(pad_sequences([[], [1]], maxlen=2), [[0, 0], [0, 1]])
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)


def test_pad_sequences_rejects_bad_options():
    with pytest.raises(ConfigError, match="padding must be 'pre' or 'post', got 'middle'"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ConfigError, match="truncating must be 'pre' or 'post', got 'x'"):
        pad_sequences([[1]], truncating="x")


# ------------------------------------------------------------------------------------------------ tokenizer
def test_tokenizer_ranks_by_frequency_like_keras():
    # Keras Tokenizer().fit_on_texts(texts).word_index for these texts (no OOV token):
    texts = ["The cat sat on the mat.", "The dog sat!"]
    tok = Tokenizer(max_words=None, oov_token=None).fit_on_texts(texts)
    assert tok.word_index == {"the": 1, "sat": 2, "cat": 3, "on": 4, "mat": 5, "dog": 6}
    assert tok.texts_to_sequences(["the dog sat on a mat"]) == [[1, 6, 2, 4, 5]]  # unknown "a" dropped
    assert tok.document_count == 2


def test_tokenizer_oov_and_max_words_like_keras():
    # Keras: Tokenizer(num_words=4, oov_token="<unk>"): "<unk>" is 1, then by frequency (ties: first seen
    # first, so b before a); ids >= 4 -> OOV.
    tok = Tokenizer(max_words=4, oov_token="<unk>").fit_on_texts(["b b b a a c", "a c d"])
    assert tok.word_index == {"<unk>": 1, "b": 2, "a": 3, "c": 4, "d": 5}
    assert tok.texts_to_sequences(["a b c d e"]) == [[3, 2, 1, 1, 1]]
    assert tok.vocab_size == 4
    assert tok.sequences_to_texts([[0, 2, 3, 1]]) == ["b a <unk>"]


def test_tokenizer_filters_lower_and_apostrophes():
    tok = Tokenizer(max_words=None, oov_token=None)
    assert tok.words("Don't STOP -- it's GREAT!!\tReally.") == ["don't", "stop", "it's", "great", "really"]
    assert Tokenizer(lower=False, filters="").words("A,b  C") == ["A,b", "C"]


def test_tokenizer_round_trips_through_a_dict():
    tok = Tokenizer(max_words=3).fit_on_texts(["x y y z z z"])
    again = Tokenizer.from_dict(tok.to_dict())
    assert again.texts_to_sequences(["z y x w"]) == tok.texts_to_sequences(["z y x w"]) == [[2, 1, 1, 1]]
    assert set(tok.to_dict()["word_index"]) == {"<unk>", "z"}  # only the ids the tokenizer can produce
    with pytest.raises(DataError, match="stored tokenizer is incomplete"):
        Tokenizer.from_dict({"max_words": 3})


def test_tokenizer_errors():
    with pytest.raises(ConfigError, match="max_words must be >= 2"):
        Tokenizer(max_words=1)
    with pytest.raises(ConfigError, match="call fit_on_texts first"):
        Tokenizer().texts_to_sequences(["hello"])


# -------------------------------------------------------------------------------------------------- readers
def test_decode_error_names_line_and_column():
    with pytest.raises(DataError, match=r"f\.txt: line 2, column 4: byte 0xff is not valid utf-8"):
        decode_text(b"ok\nabc\xff\n", "f.txt")


def test_read_text_file_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(DataError, match="empty.txt: the file is empty"):
        read_text_file(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="does not exist"):
        read_text_file(tmp_path / "missing.txt")
    (tmp_path / "t.txt").write_text("héllo\n", encoding="utf-8")
    assert read_text_file(tmp_path / "t.txt") == "héllo\n"


def _imdb_tree(root, bad: bool = False):
    reviews = {("train", "pos"): ["Great film!<br /><br />Loved it.", "Superb."],
               ("train", "neg"): ["Awful.", "Boring<br/>and long."],
               ("test", "pos"): ["Wonderful."], ("test", "neg"): ["Dull."]}
    for (split, label), texts in reviews.items():
        d = root / "aclImdb" / split / label
        d.mkdir(parents=True)
        for i, t in enumerate(texts):
            (d / f"{i}_7.txt").write_bytes(t.encode() + (b"\xfe" if bad and label == "neg" else b""))
    (root / "aclImdb" / "README").write_text("not a review")


def test_read_imdb_folder_and_tar_give_the_same(tmp_path):
    _imdb_tree(tmp_path)
    folder = read_imdb(tmp_path / "aclImdb")
    archive = tmp_path / "imdb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "aclImdb", arcname="aclImdb")
    packed = read_imdb(archive)
    assert sorted(folder) == sorted(packed) == ["test", "train"]
    for split in folder:
        a = sorted(zip(folder[split].texts, folder[split].labels, strict=True))
        b = sorted(zip(packed[split].texts, packed[split].labels, strict=True))
        assert a == b
    assert ("Great film!  Loved it.", 1) in sorted(zip(folder["train"].texts, folder["train"].labels, strict=True))
    assert read_imdb(archive, splits=["test"]).keys() == {"test"}
    assert len(read_imdb(archive, limit=2)["train"]) == 2


def test_read_imdb_errors(tmp_path):
    _imdb_tree(tmp_path, bad=True)
    with pytest.raises(DataError, match=r"test/neg/0_7\.txt: line 1, column 6: byte 0xfe is not valid utf-8"):
        read_imdb(tmp_path / "aclImdb")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no reviews found; expected <split>/pos"):
        read_imdb(tmp_path / "nothing")
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a gzip file at all")
    with pytest.raises(DataError, match="broken.tar.gz: cannot read the archive"):
        read_imdb(broken)


def test_read_labelled_table_sst2_and_csv(tmp_path):
    sst = tmp_path / "dev.tsv"
    sst.write_text('label\tcontent\n1\ta "quoted" gem .\n0\tdull , dull , dull .\n', encoding="utf-8")
    data = read_labelled_table(sst)
    assert data.texts == ['a "quoted" gem .', "dull , dull , dull ."] and data.labels == [1, 0]
    assert data.sources == ["dev.tsv:2", "dev.tsv:3"]
    csv_file = tmp_path / "r.csv"
    csv_file.write_text('text,sentiment\n"Fine, really",positive\nbad,negative\n', encoding="utf-8")
    assert read_labelled_table(csv_file).labels == [1, 0]
    uci = tmp_path / "uci.txt"  # the UCI labelled sentences: no header, sentence<TAB>label
    uci.write_text("So good.\t1\nNot good.\t0\n", encoding="utf-8")
    d = read_labelled_table(uci)
    assert isinstance(d, LabelledTexts) and d.texts == ["So good.", "Not good."] and d.labels == [1, 0]


def test_read_labelled_table_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\tsentence\n1\tok\nmaybe\tnot sure\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv: line 3, column 1: label 'maybe' is not a binary sentiment label"):
        read_labelled_table(bad)
    short = tmp_path / "short.tsv"
    short.write_text("label\tsentence\n1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short.tsv: line 2: 1 column\(s\), expected at least 2"):
        read_labelled_table(short)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        read_labelled_table(empty)
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: cannot tell the text and label columns"):
        read_labelled_table(odd)
    with pytest.raises(DataError, match="no column named 'body'"):
        read_labelled_table(bad, text_column="body")
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("label\tsentence\n1\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.tsv: line 2, column 6: byte 0xe9 is not valid utf-8"):
        read_labelled_table(latin)


def test_real_sst2_dev_reads(shared_data):
    dev = read_labelled_table(shared_data / "sst2" / "dev.tsv")
    assert len(dev) == 872 and set(dev.labels) == {0, 1}
