"""The CSV series reader: values, times, and the errors users meet (line numbers, values, what to do)."""

import numpy as np
import pytest

from neuralab.data.series import check_length, read_series
from neuralab.errors import DataError


def write(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_a_column_with_dates(tmp_path):
    p = write(tmp_path, "Date,Passengers\n1949-01,112\n1949-02,118\n1949-03,132\n1949-04,129\n")
    s = read_series(p, "Passengers", time_column="Date")
    np.testing.assert_array_equal(s.values, [112, 118, 132, 129])
    assert s.times == ["1949-01", "1949-02", "1949-03", "1949-04"] and s.name == "Passengers"
    assert read_series(p, "2").name == "Passengers"


def test_the_shared_airline_file(shared_data):
    s = read_series(shared_data / "univariate_ts" / "sktime" / "Airline.csv", "Passengers", "Date")
    assert len(s) == 144 and s.values[0] == 112


def test_non_numeric_value_names_line_and_value(tmp_path):
    p = write(tmp_path, "t,y\n1,1.5\n2,abc\n3,2\n")
    with pytest.raises(DataError, match=r"line 3, column 'y': 'abc' is not a number"):
        read_series(p, "y")


def test_missing_value_is_a_gap(tmp_path):
    p = write(tmp_path, "t,y\n1,1.5\n2,\n3,2\n")
    with pytest.raises(DataError, match=r"line 3, column 'y': missing value '' \(a gap"):
        read_series(p, "y")
    p = write(tmp_path, "t,y\n1,1.5\n2,NaN\n3,2\n", "n.csv")
    with pytest.raises(DataError, match="line 3.*missing value 'NaN'"):
        read_series(p, "y")


def test_gap_in_time_and_disorder(tmp_path):
    p = write(tmp_path, "t,y\n1,1\n2,2\n3,3\n5,4\n6,5\n")
    with pytest.raises(DataError, match=r"line 5: gap in time: '3' -> '5' is 2 time units, the usual step is 1"):
        read_series(p, "y", time_column="t")
    p = write(tmp_path, "d,y\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n2020-01-06,4\n", "d.csv")
    with pytest.raises(DataError, match="line 5: gap in time: '2020-01-03' -> '2020-01-06' is 3 days"):
        read_series(p, "y", time_column="d")
    p = write(tmp_path, "t,y\n1,1\n3,2\n2,3\n4,4\n", "o.csv")
    with pytest.raises(DataError, match="line 4: time '2' does not come after '3'"):
        read_series(p, "y", time_column="t")
    p = write(tmp_path, "t,y\n1,1\nlater,2\n3,3\n", "x.csv")
    with pytest.raises(DataError, match="line 3: time 'later' is neither a number nor a date"):
        read_series(p, "y", time_column="t")


def test_file_and_column_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_series(tmp_path / "none.csv", "y")
    p = write(tmp_path, "t,y\n1,2\n")
    with pytest.raises(DataError, match=r"line 1: no value column 'z'; the header has 't', 'y'"):
        read_series(p, "z")
    with pytest.raises(DataError, match="the file is empty"):
        read_series(write(tmp_path, "", "e.csv"), "y")
    with pytest.raises(DataError, match="no data rows"):
        read_series(write(tmp_path, "t,y\n", "h.csv"), "y")
    with pytest.raises(DataError, match=r"line 3: 1 field\(s\), expected at least 2"):
        read_series(write(tmp_path, "t,y\n1,2\n3\n", "short.csv"), "y")


def test_check_length_says_what_is_needed():
    check_length(40, 10, 1)
    with pytest.raises(DataError, match="has 15 points; a window of 10 and a horizon of 1 need at least 22"):
        check_length(15, 10, 1)
