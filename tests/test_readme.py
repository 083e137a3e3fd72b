"""The README's quick start is what CI runs, and it names only tasks that exist."""

import re
from pathlib import Path

from neuralab.tasks import list_tasks

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [c.strip() for c in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_quick_start_is_exactly_two_commands():
    cmds = _quick_start_commands()
    assert len(cmds) == 2 and all("\n" not in c for c in cmds)
    assert cmds[0].endswith("neuralab demo")
    assert "pytest" in cmds[1] and ".[dev]" in cmds[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _quick_start_commands()[1] in ci


def test_every_task_is_in_the_readme_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in list_tasks():
        assert f"`neuralab run {name}`" in text, name
