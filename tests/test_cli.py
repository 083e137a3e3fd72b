"""The command line as a user types it: output, exit codes, one-line errors without tracebacks."""

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from neuralab import __version__
from neuralab.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and __version__ in r.output


def test_list_shows_tasks_and_models():
    r = invoke("list")
    assert r.exit_code == 0
    for name in ("backprop", "mlp"):
        assert name in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["run", "no-such-task"], "unknown task 'no-such-task'"),
     (["run", "backprop", "--data", "/no/such/file.json"], "--data path '/no/such/file.json' does not exist"),
     (["run", "backprop", "--device", "tpu"], "unknown device 'tpu'"),
     (["run", "backprop", "--epochs", "0"], "--epochs must be >= 1"),
     (["summary", "no-such-model"], "unknown model 'no-such-model'"),
     (["summary", "mlp", "--config", "{bad"], "--config is not valid JSON"),
     (["summary", "mlp", "--config", '{"widht": 3}'], "unknown option(s) widht")],
)
def test_user_errors_are_one_line_and_exit_2(args, message, tmp_path):
    r = invoke(*args, *(["--out", str(tmp_path)] if args[0] == "run" else []))
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    r = invoke("run", "backprop", "--device", "cuda", "--out", str(tmp_path))
    assert r.exit_code == 2
    assert "CUDA is not available" in r.output
    assert not any(tmp_path.iterdir()), "no run directory is created for a rejected option"


def test_resume_without_a_run_is_an_error(tmp_path):
    r = invoke("run", "backprop", "--resume", "--out", str(tmp_path))
    assert r.exit_code == 2 and "no unfinished run" in r.output


def test_run_writes_report_and_prints_the_numbers(tmp_path):
    r = invoke("run", "backprop", "--quick", "--out", str(tmp_path), "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "w5=0.1746" in r.output and "report.html" in r.output
    runs = list((tmp_path / "backprop").iterdir())
    assert len(runs) == 1
    assert json.loads((runs[0] / "run.json").read_text())["status"] == "done"


def test_summary_of_a_saved_model_directory(tmp_path):
    import neuralab

    model = neuralab.get_model("mlp", in_features=3, hidden=(4,), out_features=2)
    neuralab.save_model(model, tmp_path / "m")
    r = invoke("summary", str(tmp_path / "m"))
    assert r.exit_code == 0, r.output
    assert "Total params: 26" in r.output  # 3*4+4 + 4*2+2


def test_console_script_entry_point_runs():
    # `python -m neuralab` is the same entry point as the `neuralab` console script.
    p = subprocess.run([sys.executable, "-m", "neuralab", "run", "nope"], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error: unknown task")
    assert "Traceback" not in p.stderr


def test_run_refuses_an_option_the_task_does_not_take(tmp_path):
    r = CliRunner().invoke(app, ["run", "backprop", "--out", str(tmp_path), "--arch", "resnet"])
    assert r.exit_code == 2
    assert "does not take option(s) arch" in r.output
    assert not any(tmp_path.iterdir())  # refused before a run directory was made


def test_run_set_needs_key_value(tmp_path):
    r = CliRunner().invoke(app, ["run", "backprop", "--out", str(tmp_path), "--set", "oops"])
    assert r.exit_code == 2
    assert "--set expects KEY=VALUE" in r.output
