"""First contact: the distribution is `fastinit-weights` (`fastinit` on the package index is
another project) and its name, console script and version agree everywhere they are written;
`fastinit --help` is plain text; the release smoke test passes on this install."""

import importlib.metadata
import os
import subprocess
import sys

import pytest

import fastinit
from fastinit._engine._torch_required import DISTRIBUTION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def test_the_name_in_errors_is_the_name_in_pyproject():
    assert pyproject()["name"] == DISTRIBUTION


def test_installed_distribution_is_this_package():
    dist = importlib.metadata.distribution(DISTRIBUTION)
    assert dist.version == pyproject()["version"] == fastinit.__version__
    assert "fastinit/__init__.py" in {str(f) for f in dist.files}
    [script] = [e for e in dist.entry_points if e.group == "console_scripts"]
    assert (script.name, script.value) == ("fastinit", "fastinit.checkpoint.cli:main")
    assert "torch" in dist.metadata.get_all("Provides-Extra")


@pytest.mark.parametrize("argv", [["--help"], ["checkpoint", "--help"], ["verify", "--help"]])
def test_cli_help_is_plain_text(argv, capsys):
    from fastinit.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    shown = capsys.readouterr().out
    assert exit_.value.code == 0 and shown.startswith("usage: fastinit")
    assert not any(mark in shown for mark in ("``", ":func:", ":mod:", ":class:"))


def test_the_release_smoke_test_passes_here():
    # tools/smoke_installed.py is cibuildwheel's test-command; tests/package/test_without_torch.py
    # runs it without torch
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "smoke_installed.py")],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith(f"smoke: {DISTRIBUTION} {fastinit.__version__} ok (")
    assert r.stdout.rstrip().endswith("torch present)")


def test_version_flag_prints_the_version(capsys):
    from fastinit.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"fastinit {fastinit.__version__}\n"


@pytest.mark.parametrize("argv, shown", [(["--version"], "fastinit {version}\n"),
                                         (["--help"], "usage: fastinit")])
def test_python_dash_m_fastinit_is_the_command(argv, shown):
    r = subprocess.run([sys.executable, "-m", "fastinit", *argv], capture_output=True,
                       text=True, timeout=120)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith(shown.format(version=fastinit.__version__))


def test_release_files_name_this_version():
    # the files a release ships besides the package: the licence pyproject declares, the
    # citation and the changelog's newest entry, each with pyproject's version
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        assert "Apache License" in f.read(300) and pyproject()["license"] == {"text": "Apache-2.0"}
    version = pyproject()["version"]
    with open(os.path.join(ROOT, "CITATION.cff"), encoding="utf-8") as f:
        assert f"\nversion: {version}\n" in f.read()
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as f:
        newest = next(line for line in f if line.startswith("## "))
    assert newest.split()[1] == version == fastinit.__version__
