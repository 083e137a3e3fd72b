"""The character vocabulary and the text-file reader of the character generator (behaviour + error messages)."""

from __future__ import annotations

import pytest
import torch

from neuralab.data.chars import CharVocab, read_corpus, stdlib_corpus
from neuralab.errors import ConfigError, DataError


def test_fit_sorts_the_alphabet_and_round_trips():
    v = CharVocab.fit("hello world\n")
    assert v.chars == sorted(set("hello world\n"))
    ids = v.encode("low\n")
    assert ids.dtype == torch.int64 and ids.tolist() == [v.chars.index(c) for c in "low\n"]
    assert v.decode(ids) == "low\n"
    assert v.decode([0, 1]) == v.chars[0] + v.chars[1]
    assert len(v) == 9 and "h" in v and "z" not in v


def test_unknown_character_is_an_error_naming_it_and_its_position():
    v = CharVocab.fit("abc")
    with pytest.raises(DataError, match=r"seed: character 'z' at position 2 is not in the model's vocabulary "
                                        r"\(2 unknown character\(s\): 'z', 'Q'\).*3 characters: 'abc'"):
        v.encode("abzQ", source="seed")
    with pytest.raises(DataError, match=r"' ' \(U\+0020\) at position 1"):
        v.encode("a b")
    assert v.missing("xaxyb") == ["x", "y"]


def test_unknown_character_mapping_when_asked():
    v = CharVocab.fit("abc", unknown="?")
    assert "?" in v.chars
    assert v.decode(v.encode("azb")) == "a?b"
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        CharVocab(["a"], unknown="?")


def test_to_dict_from_dict_round_trip_and_bad_input():
    v = CharVocab.fit("xyz\t", unknown="~")
    w = CharVocab.from_dict(v.to_dict())
    assert w.chars == v.chars and w.unknown == "~"
    with pytest.raises(DataError, match="'chars' string"):
        CharVocab.from_dict({"chars": 3})
    with pytest.raises(ConfigError, match="appears twice"):
        CharVocab(["a", "a"])
    with pytest.raises(DataError, match="outside the vocabulary"):
        v.decode([len(v)])


def test_read_corpus_reads_utf8_and_strips_a_bom(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("\ufeffWhat's in a name? — Juliet\n".encode())
    assert read_corpus(p) == "What's in a name? — Juliet\n"


@pytest.mark.parametrize("data, message", [
    (b"", r"t\.txt: the file is empty"),
    (b"  \n\t\n", "only whitespace"),
    (b"abc\x00def", r"t\.txt: NUL byte at byte offset 3: this looks like a binary file"),
    (b"line one\nok \xff here", r"t\.txt: byte 0xff at byte offset 12 \(line 2, column 4\) is not valid UTF-8"),
])
def test_read_corpus_errors_name_the_file_and_offset(tmp_path, data, message):
    p = tmp_path / "t.txt"
    p.write_bytes(data)
    with pytest.raises(DataError, match=message):
        read_corpus(p)


def test_read_corpus_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_corpus(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a folder"):
        read_corpus(tmp_path)


def test_stdlib_corpus_is_deterministic_ascii_and_sized():
    text, names = stdlib_corpus(20_000)
    again, names2 = stdlib_corpus(20_000)
    assert text == again and names == names2
    assert len(text) == 20_000 and text.isascii()
    assert names == sorted(names) and all(n.endswith(".py") for n in names)
    assert "def " in text
    with pytest.raises(ConfigError, match="max_chars"):
        stdlib_corpus(0)
