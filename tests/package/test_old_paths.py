"""The module paths of before the layers keep working: each public module that moved into a
layer subpackage is importable under its old name (``import fastinit.X``, ``from fastinit.X
import name``) as the same module object, in a fresh interpreter; ``python -m fastinit.cli`` and
the ``fastinit`` command run without a warning; the names fastinit exports stay what they were."""

import os
import shutil
import subprocess
import sys

import pytest

#: old path -> (names imported from it, the module it is now)
OLD_PATHS = {
    "fastinit.streams": (["stream_of", "keyed"], "fastinit._engine.streams"),
    "fastinit.nn_init": (["kaiming_uniform_", "calculate_gain"], "fastinit.init.nn_init"),
    "fastinit.keras_init": (["he_normal_", "compute_fans"], "fastinit.init.keras_init"),
    "fastinit.patch": (["patch", "patch_enable"], "fastinit.models.patch"),
    "fastinit.module_init": (["init_module", "init_dtensor_"], "fastinit.models.module_init"),
    "fastinit.deferred": (["materialize"], "fastinit.models.deferred"),
    "fastinit.checkpoints": (["checkpoint", "verify", "llama_specs"],
                             "fastinit.checkpoint.checkpoints"),
    "fastinit.module_checkpoint": (["checkpoint_module", "verify_module"],
                                   "fastinit.checkpoint.module_checkpoint"),
    "fastinit.cli": (["main"], "fastinit.checkpoint.cli"),
    "fastinit.diagnose": (["diagnose", "Report"], "fastinit.diagnostics.diagnose"),
    "fastinit.lsuv": (["lsuv_"], "fastinit.diagnostics.lsuv"),
}


def python(code, *args):
    return subprocess.run([sys.executable, "-W", "error", *args, "-c", code] if code else
                          [sys.executable, "-W", "error", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_path_imports_in_a_fresh_interpreter(old):
    names, now = OLD_PATHS[old]
    code = (f"import {old}\n"
            f"from {old} import {', '.join(names)}\n"
            f"import sys\n"
            f"m = sys.modules[{old!r}]\n"
            f"assert m is sys.modules[{now!r}], m\n"
            f"assert all(getattr(m, n) is globals()[n] for n in {names!r})\n"
            f"print(m.__name__)\n")
    r = python(code)
    assert (r.returncode, r.stdout, r.stderr) == (0, now + "\n", "")


def test_module_attributes_and_functions_keep_their_names():
    # fastinit.nn_init (in __all__), fastinit.streams, ... are the modules; fastinit.patch,
    # fastinit.diagnose and fastinit.checkpoint the functions, also after importing every old path
    code = ("import importlib, fastinit\n"
            f"for old in {sorted(OLD_PATHS)!r}:\n"
            "    importlib.import_module(old)\n"
            "import fastinit.cli\n"
            "print(sorted(n for n in ['streams', 'nn_init', 'keras_init', 'module_init', "
            "'deferred', 'checkpoints', 'module_checkpoint', 'lsuv', 'cli'] "
            "if type(getattr(fastinit, n)).__name__ == 'module'))\n"
            "print([type(getattr(fastinit, n)).__name__ for n in "
            "['patch', 'diagnose', 'checkpoint', 'he_normal_']])\n")
    r = python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        str(sorted(['streams', 'nn_init', 'keras_init', 'module_init', 'deferred', 'checkpoints',
                    'module_checkpoint', 'lsuv', 'cli'])),
        str(['type', 'function', 'function', 'function'])]


def test_python_m_cli_runs_without_a_warning():
    r = python(None, "-m", "fastinit.cli", "--help")
    assert (r.returncode, r.stderr) == (0, "") and r.stdout.startswith("usage: fastinit")


def test_console_script_runs():
    script = shutil.which("fastinit", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("no fastinit command beside this Python")
    r = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr) == (0, "") and r.stdout.startswith("usage: fastinit")
