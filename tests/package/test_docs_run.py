"""Every fenced ``python`` block of README.md and docs/*.md runs, so text that goes stale fails.

The blocks of one file run in order, in one namespace (a later block may use an earlier one's
names), in a fresh interpreter whose working directory is a temporary one (so files a block
writes go there), with warnings as errors. A traceback names the Markdown file and the line
in it. A block that cannot run as written (it needs a GPU, several processes, or code of the
reader's) carries a marker on the line just before its fence, with the reason:

    <!-- not run: needs torchrun and several processes -->

and is skipped; the tests below check that every marker sits right above a python fence and
says why. A block that needs an optional library the environment lacks (transformers, timm,
matplotlib, safetensors) skips its file, saying which; CI installs them all. The interpreter
imports tests/conftest.py first, so the blocks see the environment the suite sees.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
from typing import List, NamedTuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- not run: (?P<why>\S.*?) -->$")
# any indentation, so that blocks inside list items run too
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^`]*)$")
OPTIONAL = {"transformers", "timm", "matplotlib", "safetensors", "torchvision"}


class Block(NamedTuple):
    path: pathlib.Path
    line: int  # 1-based line of the first code line
    code: str
    skip: str  # the marker's reason, or ""


def python_blocks(path: pathlib.Path) -> List[Block]:
    """The fenced blocks whose info string starts with ``python`` (``py``), in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m["fence"], (m["info"].split() or [""])[0].lower()
        end = next((j for j in range(i + 1, len(lines))
                    if lines[j].strip().startswith(fence[0] * len(fence))
                    and not lines[j].strip().strip(fence[0])), len(lines))
        if lang in ("python", "py", "python3"):
            prev = lines[i - 1].strip() if i > 0 else ""
            marker = MARKER.match(prev)
            body = [ln[len(m["indent"]):] if ln.startswith(m["indent"]) else ln.lstrip()
                    for ln in lines[i + 1:end]]
            blocks.append(Block(path, i + 2, "\n".join(body), marker["why"] if marker else ""))
        i = end + 1
    return blocks


def doc_files() -> List[pathlib.Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# Runs in the child: each block compiled under the Markdown file's name, padded so that
# line numbers in a traceback are the file's own.
RUNNER = r"""
import importlib.util, json, sys
blocks = json.load(sys.stdin)
optional = set(sys.argv[1].split(","))
sys.path.insert(0, sys.argv[2])
import conftest  # the suite's environment: a CUDA torchvision on CPU torch made importable
sys.path.pop(0)
namespace = {"__name__": "__main__"}
for path, line, code in blocks:
    try:
        exec(compile("\n" * (line - 1) + code + "\n", path, "exec"), namespace)
    except ImportError as e:  # fastinit's own "needs matplotlib" errors chain the original
        missing = e if isinstance(e, ModuleNotFoundError) else e.__cause__
        top = (getattr(missing, "name", None) or "").split(".")[0]
        if isinstance(missing, ModuleNotFoundError) and top in optional \
                and importlib.util.find_spec(top) is None:
            print(f"OPTIONAL-MISSING {top} ({path}:{line})")
            sys.exit(0)
        raise
"""


def run_blocks(blocks: List[Block], cwd: pathlib.Path,
               optional=OPTIONAL) -> subprocess.CompletedProcess:
    todo = [(str(b.path.relative_to(ROOT)), b.line, b.code) for b in blocks if not b.skip]
    return subprocess.run([sys.executable, "-W", "error", "-c", RUNNER, ",".join(optional),
                           str(ROOT / "tests")], input=json.dumps(todo), capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize("path", [p for p in doc_files() if python_blocks(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_python_blocks_of_a_doc_run(path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("torch")  # the docs show torch tensors throughout
    ran = [b for b in python_blocks(path) if not b.skip]
    if not ran:
        pytest.skip(f"every python block of {path.name} is marked not to run")
    r = run_blocks(ran, tmp_path)
    assert r.returncode == 0, f"a python block of {path.name} failed:\n{r.stdout}{r.stderr}"
    missing = [ln for ln in r.stdout.splitlines() if ln.startswith("OPTIONAL-MISSING ")]
    if missing:
        pytest.skip(f"{path.name}: {missing[0][len('OPTIONAL-MISSING '):]} is not installed")


def test_every_marker_names_a_reason_and_sits_above_a_python_fence() -> None:
    for path in doc_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if "not run" in line and line.lstrip().startswith("<!--"):
                where = f"{path.relative_to(ROOT)}:{i + 1}"
                assert MARKER.match(line.strip()), f"{where}: write <!-- not run: REASON -->"
                nxt = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
                assert nxt and nxt["info"].split()[0].lower() in ("python", "py", "python3"), \
                    f"{where}: the marker must be the line just above a ```python fence"


def test_the_docs_have_blocks_that_run() -> None:
    # the README's quickstart at least: an extraction that finds nothing must not pass quietly
    readme = python_blocks(ROOT / "README.md")
    assert readme and not readme[0].skip and "fastinit." in readme[0].code


# --- the extraction and the runner can fail ------------------------------------------------

def test_extraction_finds_python_blocks_only_and_reads_markers(tmp_path: pathlib.Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("text\n```python\nx = 1\n```\n```bash\nls\n```\n"
                   "<!-- not run: needs a GPU -->\n```python\ny = 2\n```\n"
                   "- item\n\n    ```python\n    z = 3\n    ```\n````py\nw = '```'\n````\n")
    blocks = python_blocks(doc)
    assert [(b.line, b.code, b.skip) for b in blocks] == [
        (3, "x = 1", ""), (10, "y = 2", "needs a GPU"), (15, "z = 3", ""),
        (18, "w = '```'", "")]


DOC = ROOT / "docs" / "_not_a_doc.md"  # never written: the runner gets the text only


def test_a_failing_block_fails_with_the_docs_line(tmp_path: pathlib.Path) -> None:
    r = run_blocks([Block(DOC, 3, "x = 1", ""), Block(DOC, 7, "assert x == 2, 'stale'", ""),
                    Block(DOC, 9, "raise SystemExit(0)", "")], tmp_path)
    assert r.returncode != 0
    assert 'File "docs/_not_a_doc.md", line 7' in r.stderr and "AssertionError: stale" in r.stderr


def test_a_warning_fails(tmp_path: pathlib.Path) -> None:
    r = run_blocks([Block(DOC, 1, "import warnings; warnings.warn('old')", "")], tmp_path)
    assert r.returncode != 0 and "UserWarning: old" in r.stderr


def test_only_a_missing_optional_library_skips(tmp_path: pathlib.Path) -> None:
    missing = [Block(DOC, 1, "import no_such_library_xyz.sub", "")]
    r = run_blocks(missing, tmp_path, optional={"no_such_library_xyz"})
    assert r.returncode == 0 and "\nOPTIONAL-MISSING no_such_library_xyz (" in "\n" + r.stdout
    assert run_blocks(missing, tmp_path, optional=set()).returncode != 0
    chained = [Block(DOC, 1, "try:\n    import no_such_library_xyz\nexcept ImportError as e:\n"
                             "    raise ImportError('needs no_such_library_xyz') from e", "")]
    r = run_blocks(chained, tmp_path, optional={"no_such_library_xyz"})
    assert r.returncode == 0 and "\nOPTIONAL-MISSING no_such_library_xyz (" in "\n" + r.stdout
    # an installed optional library whose submodule is missing is an error, not a skip
    r = run_blocks([Block(DOC, 1, "import json._no_such_submodule_", "")], tmp_path,
                   optional={"json"})
    assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr


def test_blocks_import_what_the_suite_imports(tmp_path: pathlib.Path) -> None:
    # transformers imports torchvision when it is installed; the suite's conftest makes a CUDA
    # torchvision importable on CPU torch, and the docs' blocks get the same
    for name in ("torchvision", "transformers"):
        if _has(name):
            r = run_blocks([Block(DOC, 1, f"import {name}", "")], tmp_path)
            assert r.returncode == 0, r.stderr


def _has(name: str) -> bool:
    import importlib.util  # noqa: PLC0415

    return importlib.util.find_spec(name) is not None
