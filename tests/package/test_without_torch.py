"""Without torch: `import fastinit` and the NumPy fills work, FASTINIT_PATCH=1 warns in one line
and goes on, and every entry point that needs torch (and the CLI) says so in one line, naming
itself and the install command.

Each case runs in a fresh interpreter where a meta-path finder makes `import torch` fail as it
does when torch is not installed (ModuleNotFoundError, name 'torch').
"""

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from fastinit._engine._torch_required import DISTRIBUTION

HIDE_TORCH = textwrap.dedent("""\
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    """)


def run_without_torch(code, *argv, cwd, env=None):
    """`python -c code *argv` in ``cwd`` with torch hidden; FASTINIT_PATCH unset unless given."""
    return subprocess.run([sys.executable, "-c", HIDE_TORCH + textwrap.dedent(code), *argv],
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "FASTINIT_PATCH": "", **(env or {})})


def needs_torch(who):
    return (f"{who} needs torch, which is not installed: pip install torch (the CPU build: "
            f"pip install torch --index-url https://download.pytorch.org/whl/cpu)")


def test_import_and_numpy_fills_need_no_torch(tmp_path):
    r = run_without_torch("""
        import numpy as np
        import fastinit
        w = np.empty((64, 32), np.float32)
        fastinit.kaiming_uniform_(w, seed=1)
        fastinit.he_normal_(w, seed=1)
        print(fastinit.is_patched(), "torch" in sys.modules, float(np.abs(w).max()) > 0)
        """, cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "False False True\n", "")


def test_patch_from_environment_warns_in_one_line_and_goes_on(tmp_path):
    r = run_without_torch("import fastinit\nprint('patched:', fastinit.is_patched())",
                          cwd=tmp_path, env={"FASTINIT_PATCH": "1"})
    assert r.returncode == 0 and r.stdout == "patched: False\n"
    # the warning points at the line that imported fastinit
    line = (HIDE_TORCH + "import fastinit").count("\n") + 1
    assert r.stderr == (f"<string>:{line}: RuntimeWarning: FASTINIT_PATCH=1 ignored: "
                        f"{needs_torch('patch mode')}\n")


# each public entry point that needs torch, called as a user would (arguments are irrelevant:
# the torch check comes first)
TORCH_ENTRY_POINTS = {
    "patch": "with fastinit.patch(): pass",
    "patch_enable": "fastinit.patch_enable()",
    "init_module": "fastinit.init_module(object())",
    "init_dtensor_": "fastinit.init_dtensor_(object(), name='w', seed=0)",
    "materialize": "fastinit.materialize(lambda: None)",
    "init_sharded": "fastinit.init_sharded(object())",
    "checkpoint": "fastinit.checkpoint({'hidden_size': 8}, 'never-written')",
    "checkpoint_module": "fastinit.checkpoint_module(object(), 'never-written')",
    "verify": "fastinit.verify('no-such-dir')",
    "verify_module": "fastinit.verify_module(object(), 'no-such-dir')",
    "diagnose": "fastinit.diagnose(object(), None)",
    "lsuv_": "fastinit.lsuv_(object(), None)",
}


@pytest.mark.parametrize("name", sorted(TORCH_ENTRY_POINTS))
def test_torch_entry_point_names_itself_in_one_line(name, tmp_path):
    r = run_without_torch("import fastinit\n" + TORCH_ENTRY_POINTS[name], cwd=tmp_path)
    assert r.returncode == 1
    # one exception, not a chain of two ModuleNotFoundErrors; an ImportError for `except`
    assert r.stderr.count("Traceback") == 1 and "During handling" not in r.stderr
    assert r.stderr.splitlines()[-1] == ("fastinit._engine._torch_required.TorchNotInstalledError: "
                                         + needs_torch("fastinit." + name))
    assert os.listdir(tmp_path) == []
    code = ("import fastinit\ntry:\n    " + TORCH_ENTRY_POINTS[name] + "\nexcept ImportError "
            "as e:\n    print(e.name)")
    assert run_without_torch(code, cwd=tmp_path).stdout == "torch\n"


def test_every_public_torch_entry_point_is_covered():
    # a new public function that imports torch must be added above (and call require_torch)
    import fastinit

    sources = {n: getattr(fastinit, n) for n in fastinit.__all__ if callable(getattr(fastinit, n))}
    uses_torch = {n for n, f in sources.items()
                  if re.search(r"\bimport torch\b|require_torch\(", inspect.getsource(f))}
    assert uses_torch <= set(TORCH_ENTRY_POINTS)


def test_cli_without_torch_is_one_line_and_help_works(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"hidden_size": 64, "intermediate_size": 96,
                               "num_hidden_layers": 1, "num_attention_heads": 4,
                               "vocab_size": 120}))
    def fastinit_cli(*argv):  # what the console script runs
        return run_without_torch("from fastinit.cli import main\nsys.exit(main())", *argv,
                                 cwd=tmp_path)

    r = fastinit_cli("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: fastinit") and r.stderr == ""
    for command, args in (("checkpoint", [str(cfg), "--out", "out"]), ("verify", ["out"])):
        r = fastinit_cli(command, *args)
        assert (r.returncode, r.stdout, r.stderr) == (
            2, "", needs_torch(f"fastinit {command}") + "\n")
    assert sorted(os.listdir(tmp_path)) == ["c.json"]


def test_the_release_smoke_test_passes_without_torch(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    smoke = os.path.join(root, "tools", "smoke_installed.py")
    r = run_without_torch(f"import runpy\nrunpy.run_path({smoke!r}, run_name='__main__')",
                          cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith(f"smoke: {DISTRIBUTION} ") and r.stdout.rstrip().endswith(
        "no torch)")
