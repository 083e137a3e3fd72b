"""Reading vital-sign files: aliases, units, time columns, PhysioNet grids, faults, gaps, and the error messages."""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from neuralab.data.vitals import CHANNELS, read_vitals, read_vitals_bytes, read_vitals_many
from neuralab.errors import DataError


def write(tmp_path: Path, text: str, name: str = "v.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_aliases_units_and_no_time_column(tmp_path):
    p = write(tmp_path, "Temp (F), hr ,PULSE,SaO2,NISysABP,DiasABP,RespRate,Comment\n"
                        "98.6,70,71,0.97,120,80,14,ok\n99.5,72,72,0.96,122,81,15,ok\n")
    r = read_vitals(p)
    assert r.channels == ["temperature_c", "heart_rate", "pulse_rate", "spo2", "systolic_bp", "diastolic_bp",
                          "respiration_rate"]  # CHANNELS order, whatever the file order
    assert r.values[0, 0] == pytest.approx(37.0)
    assert r.values[1, 0] == pytest.approx((99.5 - 32) * 5 / 9)
    assert r.values[:, 3] == pytest.approx([97.0, 96.0])
    assert r.rate_hz == 1.0 and r.start is None and list(r.seconds) == [0.0, 1.0]
    notes = " ".join(r.notes)
    assert "°F" in notes and "fraction" in notes and "1 Hz" in notes and "Comment" in notes
    assert read_vitals(p, rate_hz=4.0).seconds[1] == pytest.approx(0.25)


def test_celsius_stays_celsius_and_header_variants(tmp_path):
    p = write(tmp_path, "Body_Temperature,Heart Rate,spo2\n36.6,60,98\n36.7,61,97\n")
    r = read_vitals(p)
    assert r.values[:, 0] == pytest.approx([36.6, 36.7]) and not any("°F" in n for n in r.notes)


def test_iso_times_and_regular_rate(tmp_path):
    rows = "".join(f"2024-05-01T08:00:{s:02d},{70 + s}\n" for s in range(0, 20, 2))
    r = read_vitals(write(tmp_path, "timestamp,HR\n" + rows))
    assert r.start.isoformat() == "2024-05-01T08:00:00"
    assert r.rate_hz == pytest.approx(0.5) and r.seconds[-1] == 18.0


def test_clock_times_and_seconds(tmp_path):
    r = read_vitals(write(tmp_path, "Time,HR\n00:00,70\n00:30,72\n01:00,75\n"))
    assert list(r.seconds) == [0.0, 1800.0, 3600.0] and r.start is None
    r = read_vitals(write(tmp_path, "seconds,HR\n10,70\n10.5,72\n11,75\n", "s.csv"))
    assert list(r.seconds) == [0.0, 0.5, 1.0] and r.rate_hz == 2.0
    r = read_vitals(write(tmp_path, "minutes;HR\n0;70\n1;72\n2;75\n", "m.csv"))  # semicolon, minutes
    assert list(r.seconds) == [0.0, 60.0, 120.0]


def test_key_value_lines(tmp_path):
    p = write(tmp_path, "Body_Temperature = 98.13, Heart_Rate = 74, Pulse_Rate = 75, SpO2 = 97, ECG = 554\n"
                        "Body_Temperature = 98.20, Heart_Rate = 76, Pulse_Rate = 75, SpO2 = 98, ECG = 550\n", "k.txt")
    r = read_vitals(p)
    assert r.channels == ["temperature_c", "heart_rate", "pulse_rate", "spo2", "ecg"]
    assert r.values[0] == pytest.approx([(98.13 - 32) * 5 / 9, 74, 75, 97, 554])
    with pytest.raises(DataError, match=r"line 2, field 'Heart_Rate': 'fast'"):
        read_vitals(write(tmp_path, "Heart_Rate = 74, SpO2 = 97\nHeart_Rate = fast, SpO2 = 97\n", "k2.txt"))


def test_impossible_values_kept_and_flagged(tmp_path):
    r = read_vitals(write(tmp_path, "HR,SpO2\n70,97\n0,98\n400,120\n72,97\n"))
    assert r.values[:, 0] == pytest.approx([70, 0, 400, 72])  # kept, never dropped
    assert r.faults[:, 0].tolist() == [False, True, True, False]
    assert r.faults[:, 1].tolist() == [False, False, True, False]
    assert any("faults" in n for n in r.notes)


def test_short_gaps_interpolated_long_gaps_kept(tmp_path):
    hr = ["70", "", "74"] + ["75"] * 3 + [""] * 8 + ["80", "81"]
    r = read_vitals(write(tmp_path, "HR\n" + "\n".join(hr) + "\n"))
    col = r.values[:, 0]
    assert col[1] == pytest.approx(72.0) and r.imputed[1, 0]
    assert np.isnan(col[6:14]).all() and not r.imputed[6:14, 0].any()


def test_missing_rows_of_a_regular_grid_become_gaps(tmp_path):
    secs = [s for s in range(30) if s not in (10, 11, 12, 13, 14, 15, 16, 17)]
    r = read_vitals(write(tmp_path, "time,HR\n" + "".join(f"{s},{60 + s}\n" for s in secs)))
    assert len(r) == 30 and r.rate_hz == 1.0
    assert np.isnan(r.values[10:18, 0]).all()  # 8 s gap > 5 s: left as a gap
    assert any("missing rows" in n for n in r.notes)


def test_truth_columns(tmp_path):
    p = write(tmp_path, "time,HR,label,anomaly_kind,anomaly_source,anomaly_channels,anomaly_cause\n"
                        "0,70,0,,,,\n1,130,1,point,sensor_fault,heart_rate,spike\n"
                        "2,71,1,contextual,physiological,heart_rate;Pulse_Rate,x\n")
    tr = read_vitals(p).truth
    assert tr.label.tolist() == [0, 1, 1]
    assert tr.kind.tolist() == ["", "point", "contextual"]
    assert tr.channels[2] == ("heart_rate", "pulse_rate") and tr.channels[0] == ()
    assert [e["kind"] for e in tr.events()] == ["point", "contextual"]
    with pytest.raises(DataError, match=r"line 3, column 'anomaly_kind': 'weird'"):
        read_vitals(write(tmp_path, "HR,label,anomaly_kind\n70,0,\n71,1,weird\n", "bad.csv"))


def test_physionet_long_format_on_a_grid(tmp_path):
    text = ("Time,Parameter,Value\n00:00,RecordID,1\n00:00,Age,54\n00:00,Height,-1\n00:07,HR,73\n"
            "00:07,NISysABP,147\n00:07,Temp,35.1\n00:37,HR,77\n00:40,SysABP,120\n01:37,HR,60\n05:10,HR,90\n"
            "05:10,GCS,15\n")
    r = read_vitals(write(tmp_path, text, "132539.txt"))
    assert r.rate_hz == pytest.approx(1 / 3600) and len(r) == 6
    hr = r.channel("heart_rate")
    assert hr[0] == pytest.approx(75.0) and hr[1] == 60.0 and hr[5] == 90.0
    assert np.isnan(hr[2:5]).all()  # 3 empty hours > 2 grid cells: a gap
    assert r.channel("systolic_bp")[0] == 120.0  # the arterial line wins over the cuff
    assert r.meta == {"RecordID": 1.0, "Age": 54.0}  # -1 means unknown


def test_gzip_and_bytes(tmp_path):
    p = tmp_path / "v.csv.gz"
    p.write_bytes(gzip.compress(b"HR,SpO2\n70,97\n71,98\n"))
    assert read_vitals(p).values.shape == (2, 2)
    assert read_vitals_bytes(b"HR\n70\n71\n").channels == ["heart_rate"]


def test_read_many_folders_archives_and_skip(tmp_path):
    (tmp_path / "d").mkdir()
    write(tmp_path / "d", "HR\n70\n71\n", "a.csv")
    write(tmp_path / "d", "HR\n72\n73\n", "b.csv")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("set/1.txt", b"Time,Parameter,Value\n00:10,HR,70\n01:10,HR,71\n"),
                           ("set/2.txt", b"Time,Parameter,Value\n00:00,Age,40\n")):  # no vitals
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "set.tar.gz").write_bytes(buf.getvalue())
    recs = read_vitals_many([tmp_path / "d", tmp_path / "set.tar.gz"], on_error="skip")
    assert [len(r) for r in recs] == [2, 2, 2] and recs[2].source.endswith("set.tar.gz:set/1.txt")
    with pytest.raises(DataError, match=r"2.txt: no vital-sign parameters"):
        read_vitals_many(tmp_path / "set.tar.gz")
    assert len(read_vitals_many(tmp_path / "d", limit=1)) == 1


@pytest.mark.parametrize(("text", "pattern"), [
    ("", r"v.csv: the file is empty"),
    ("HR,SpO2\n", r"v.csv: no data rows after the header"),
    ("foo,bar\n1,2\n", r"v.csv, line 1: no vital-sign column among the headers 'foo', 'bar'"),
    ("HR|SpO2\n70|97\n", r"v.csv, line 1: found a single column 'HR\|SpO2' \(it seems separated by '\|'\)"),
    ("70,97\n71,98\n", r"v.csv, line 1: the first line holds numbers, not a header"),
    ("HR,SpO2\n70,97\n71,abc\n", r"v.csv, line 3, column 2 \(SpO2\): 'abc' is not a number"),
    ("HR,SpO2\n,\n,\n", r"no numeric values in any vital-sign column"),
    ("time,HR\n0,70\n2,71\n1,72\n", r"v.csv, line 4, column 'time': timestamp earlier than line 3"),
    ("time,HR\n0,70\n1,71\n1,72\n", r"v.csv, line 4, column 'time': duplicate timestamp \(same as line 3\)"),
    ("time,HR\n2024-01-01T00:00:00,70\nyesterday,71\n", r"line 3, column 1 \(time\): 'yesterday' is not a time"),
    ("HR,SpO2\n70,97\n71,98,5\n", r"v.csv: Expected 2 fields in line 3, saw 3"),
    ("Time,Parameter,Value\n00:00,HR,70\n0x:10,HR,71\n", r"v.csv, line 3, column 1 \(Time\): '0x:10'; expected HH:MM"),
    ("Time,Parameter,Value\n01:00,HR,70\n00:10,HR,71\n", r"line 3, column 1 \(Time\): '00:10' is earlier than"),
    ("Time,Parameter,Value\n00:00,HR,seventy\n", r"v.csv, line 2, column 3 \(Value\): 'seventy' is not a number"),
])
def test_error_messages_name_file_line_column(tmp_path, text, pattern):
    with pytest.raises(DataError, match=pattern):
        read_vitals(write(tmp_path, text))


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(DataError, match=r"x.csv: looks like a binary file"):
        read_vitals(p)
    with pytest.raises(DataError, match=r"nope.csv: no such file"):
        read_vitals(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"is a folder"):
        read_vitals(tmp_path)


def test_a_day_at_1hz_reads_fast(tmp_path):
    n = 86_400
    rng = np.random.default_rng(0)
    cols = np.column_stack([np.arange(n), 98 + rng.normal(0, 0.2, n), 70 + rng.normal(0, 3, n),
                            70 + rng.normal(0, 3, n), 97 + rng.normal(0, 1, n), 550 + rng.normal(0, 5, n),
                            120 + rng.normal(0, 4, n), 15 + rng.normal(0, 1, n)])
    p = tmp_path / "day.csv"
    np.savetxt(p, cols, fmt="%.2f", delimiter=",", comments="",
               header="seconds,Body_Temperature,Heart_Rate,Pulse_Rate,SpO2,ECG,Systolic_BP,Respiration_Rate")
    t0 = time.perf_counter()
    r = read_vitals(p)
    elapsed = time.perf_counter() - t0
    assert r.values.shape == (n, 7) and r.rate_hz == 1.0
    assert elapsed < 3.0  # ~0.15 s on an idle 2-core machine; generous for a busy CI runner


def test_real_physionet_stays(shared_data):
    archive = shared_data / "physionet_challenge_2012" / "set-a.tar.gz"
    if not archive.exists():
        pytest.skip(f"{archive} not found")
    recs = read_vitals_many(archive, limit=5)
    assert len(recs) == 5
    for r in recs:
        assert "heart_rate" in r.channels and set(r.channels) <= set(CHANNELS)
        assert 40 <= len(r) <= 50 and r.rate_hz == pytest.approx(1 / 3600)
        hr = r.channel("heart_rate")
        assert 40 < np.nanmedian(hr) < 140
        assert "RecordID" in r.meta


def test_empty_column_dropped_epoch_times_and_row_limit(tmp_path):
    r = read_vitals(write(tmp_path, "epoch,HR,SpO2\n1700000000,70,\n1700000001,71,\n1700000002,72,\n"))
    assert r.channels == ["heart_rate"] and any("dropped channels" in n and "spo2" in n for n in r.notes)
    assert r.start is not None and r.start.timestamp() == 1700000000 and list(r.seconds) == [0.0, 1.0, 2.0]
    with pytest.raises(DataError, match=r"more than 2 rows; split the file"):
        read_vitals(write(tmp_path, "HR\n70\n71\n72\n", "big.csv"), max_rows=2)


def test_tabs_decimal_commas_and_daylight_saving(tmp_path):
    r = read_vitals(write(tmp_path, "time\tHR\n2024-03-31T01:59:59+01:00\t70\n2024-03-31T03:00:00+02:00\t71\n"
                                    "2024-03-31T03:00:01+02:00\t72\n", "dst.tsv"))
    assert list(r.seconds) == [0.0, 1.0, 2.0] and r.rate_hz == 1.0  # the clock jumps, the samples do not
    assert any("UTC" in n for n in r.notes)
    r = read_vitals(write(tmp_path, "Temp;HR\n36,6;70\n36,7;71\n", "eu.csv"))
    assert r.values.tolist() == [[36.6, 70.0], [36.7, 71.0]] and any("decimal commas" in n for n in r.notes)
