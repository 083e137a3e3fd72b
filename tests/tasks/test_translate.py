"""The `translate` task: the date generator (golden strings), the held-out split, the pair reader's errors, and
the task end to end in quick mode on tiny sizes (generated dates and a --data TSV)."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from neuralab.errors import DataError
from neuralab.tasks import TaskOptions, run_task
from neuralab.tasks.translate import FORMATS, Alphabet, _ordinal, date_pairs, read_pairs, split_dates

D = dt.date(2021, 3, 3)
EXPECTED = {"the 3rd of march 2021": "the 3rd of march 2021", "3/3/21": "3/3/21", "03/03/2021": "03/03/2021",
            "March 3, 2021": "march 3, 2021", "2021 mar 03": "2021 mar 03", "3 March 2021": "3 march 2021",
            "03.03.2021": "03.03.2021", "3.3.21": "3.3.21", "mar 3 2021": "mar 3 2021",
            "Wednesday, March 3, 2021": "wednesday, march 3, 2021", "3-mar-21": "3-mar-21",
            "march the 3rd, 2021": "march the 3rd, 2021", "3rd mar 2021": "3rd mar 2021",
            "2021-03-03": "2021-03-03"}


def test_every_format_writes_its_example_date():
    assert set(FORMATS) == set(EXPECTED)
    rng = random.Random(0)
    for name, fn in FORMATS.items():
        for _ in range(5):  # random upper/lower/capitalised casing, same text
            assert fn(D, rng).lower() == EXPECTED[name], name
    assert FORMATS["3/3/21"](dt.date(1999, 12, 31), rng) == "12/31/99"
    assert FORMATS["3.3.21"](dt.date(2005, 1, 9), rng) == "9.1.05"


def test_ordinals():
    assert [_ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_split_is_disjoint_complete_and_seeded():
    a, b, c = split_dates(0)
    assert len(a) + len(b) + len(c) == 36525  # 1950-01-01 .. 2049-12-31
    assert not (set(a) & set(c)) and not (set(a) & set(b)) and not (set(b) & set(c))
    assert split_dates(0)[2] == c and split_dates(1)[2] != c
    pairs = date_pairs(c, 50, random.Random(0))
    assert all(dt.date.fromisoformat(t) in set(c) for t in pairs.targets)


def test_read_pairs_errors_name_file_and_line(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("one\t1\ntwo 2\n")
    with pytest.raises(DataError, match=r"p\.tsv: line 2: expected 'source<TAB>target'"):
        read_pairs(p)
    p.write_text("one\t1\n" * 5)
    with pytest.raises(DataError, match="5 pairs; need at least 20"):
        read_pairs(p)


def test_alphabet_reserves_pad_bos_eos_and_names_unknown_characters():
    a = Alphabet("0123456789-")
    assert len(a) == 14 and a.encode("10", "x") == [5, 4]  # sorted: "-" is 3, "0" is 4
    assert a.decode([5, 4, 2, 6]) == "10"  # stops at <eos>
    with pytest.raises(DataError, match=r"test source 3: character 'x' at position 1 of '1x'"):
        a.encode("1x", "test source 3")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_task("translate", TaskOptions(quick=True, out=out, progress=False, epochs=1,
                                             extra={"train_size": "400", "test_size": "60", "hidden": "16"}))


def test_quick_run_writes_a_complete_report(result):
    d = result.run_dir
    for name in ("metrics.json", "report.md", "report.html", "model/config.json", "plots/attention.png",
                 "plots/history_curves.png"):
        assert (d / name).is_file(), name
    m = json.loads((d / "metrics.json").read_text())
    assert m["test_overlap_with_train"] == 0 and m["test_examples"] == 60 and m["train_examples"] == 400
    assert 0 <= m["test_exact_match"] <= 1 and 0 <= m["test_char_accuracy"] <= 1
    assert "WRONG" in (d / "report.md").read_text() or m["test_exact_match"] == 1


def test_user_pairs_file(tmp_path):
    rng = random.Random(0)
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    lines = []
    for _ in range(80):
        n = rng.randrange(100)
        lines.append(f"{words[n // 10]} {words[n % 10]}\t{n:02d}")
    p = tmp_path / "numbers.tsv"
    p.write_text("\n".join(lines) + "\n")
    r = run_task("translate", TaskOptions(quick=True, data=p, out=tmp_path, epochs=1, progress=False,
                                          extra={"hidden": "8", "attention": "bahdanau", "cell": "gru"}))
    assert r.metrics["test_examples"] == 8 and r.metrics["train_examples"] == 64
