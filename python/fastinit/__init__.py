"""fastinit: fast, reproducible neural-network weight initialization.

Every value is a pure function of (seed, stream, element index) through Philox4x32-10, so
fills are identical on any thread count, SIMD path, slice, shard, device and dtype.
See docs/stream.md for the contract, docs/api.md for the initializers, docs/models.md for
whole models and checkpoints, docs/diagnostics.md for diagnose and LSUV, and
docs/architecture.md for the layers this package is made of.
"""

from __future__ import annotations

from . import _core
from ._engine._fills import (
    constant_,
    normal_,
    ones_,
    philox4x32_10,
    random_bits_,
    trunc_normal_,
    uniform_,
    zeros_,
)
from ._engine._seeds import manual_seed
from ._engine._threads import get_num_threads, set_num_threads
from ._engine._version import STREAM_VERSION, __version__
from .init.keras_init import (
    delta_orthogonal_,
    glorot_normal_,
    glorot_uniform_,
    he_normal_,
    he_uniform_,
    lecun_normal_,
    lecun_uniform_,
    uniform_unit_scaling_,
    variance_scaling_,
    variance_scaling_tf1_,
)
from .models.patch import is_patched, patch, patch_disable, patch_enable
# --- torch.nn.init drop-in: fastinit.nn_init holds every torch.nn.init name ------------------
from .init.nn_init import (
    calculate_gain,
    dirac_,
    eye_,
    kaiming_normal_,
    kaiming_uniform_,
    orthogonal_,
    sparse_,
    xavier_normal_,
    xavier_uniform_,
)
# --- end torch.nn.init drop-in ----------------------------------------------------------------
# --- whole models and checkpoints (torch imported on first use) ------------------------------
from ._engine.streams import stream_of
from .models.module_init import init_dtensor_, init_module
from .models.deferred import materialize
from .models.sharded_init import init_sharded
from .checkpoint.checkpoints import checkpoint, verify
from .checkpoint.module_checkpoint import checkpoint_module, verify_module
# --- end whole models and checkpoints ---------------------------------------------------------
# --- seeing initialization: diagnostics and LSUV (torch imported on first use) ----------------
from .diagnostics.diagnose import diagnose
from .diagnostics.lsuv import lsuv_
# --- end seeing initialization -----------------------------------------------------------------


def cuda_available() -> bool:
    """True when fastinit was built with CUDA and a usable GPU and driver are present."""
    return bool(_core.cuda_available())


def cpu_isa() -> str:
    """The CPU kernel build chosen at run time: 'avx512', 'avx2' or 'base'.

    The environment variable FASTINIT_ISA (base, avx2 or avx512, any case) asks for a narrower
    build; read at import, where any other value fails the import with one line, and a build
    the processor lacks is a RuntimeWarning naming the one that runs. Every build gives the
    same values."""
    return str(_core.cpu_isa())


__all__ = [
    # torch.nn.init drop-in (fastinit.nn_init)
    "nn_init",
    "calculate_gain",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "orthogonal_",
    "sparse_",
    "xavier_normal_",
    "xavier_uniform_",
    # end torch.nn.init drop-in
    # whole models and checkpoints
    "stream_of",
    "init_module",
    "init_dtensor_",
    "materialize",
    "init_sharded",
    "checkpoint",
    "checkpoint_module",
    "verify",
    "verify_module",
    # end whole models and checkpoints
    "delta_orthogonal_",
    "glorot_normal_",
    "glorot_uniform_",
    "he_normal_",
    "he_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "uniform_unit_scaling_",
    "variance_scaling_",
    "variance_scaling_tf1_",
    "is_patched",
    "patch",
    "patch_disable",
    "patch_enable",
    "constant_",
    "cpu_isa",
    "cuda_available",
    "get_num_threads",
    "manual_seed",
    "normal_",
    "ones_",
    "philox4x32_10",
    "random_bits_",
    "set_num_threads",
    "trunc_normal_",
    "uniform_",
    "zeros_",
    "STREAM_VERSION",
    # seeing initialization
    "diagnose",
    "lsuv_",
]

# --- the module paths of before the layers ---------------------------------------------------
# The public modules moved into the layer subpackages (docs/architecture.md) keep their old
# paths: the same module object under both names, so `import fastinit.nn_init` and `from
# fastinit.patch import ...` work as before (tests/package/test_old_paths.py); the attributes
# fastinit.patch and fastinit.diagnose stay the context manager and the function. `python -m
# fastinit.cli` needs a file: cli.py.
import sys as _sys  # noqa: E402

from ._engine import streams  # noqa: E402
from .init import keras_init, nn_init  # noqa: E402
from .models import deferred, module_init  # noqa: E402
from .checkpoint import checkpoints, module_checkpoint  # noqa: E402
from .diagnostics import lsuv  # noqa: E402

#: old path (below fastinit) -> the module's path now
_OLD_PATHS = {
    "streams": "_engine.streams",
    "nn_init": "init.nn_init",
    "keras_init": "init.keras_init",
    "patch": "models.patch",
    "module_init": "models.module_init",
    "deferred": "models.deferred",
    "checkpoints": "checkpoint.checkpoints",
    "module_checkpoint": "checkpoint.module_checkpoint",
    "diagnose": "diagnostics.diagnose",
    "lsuv": "diagnostics.lsuv",
}
for _old, _new in _OLD_PATHS.items():
    _sys.modules[f"{__name__}.{_old}"] = _sys.modules[f"{__name__}.{_new}"]
del _old, _new, _sys
# --- end module paths of before the layers ----------------------------------------------------

# FASTINIT_PATCH=1: patch mode for the whole program (fastinit.patch_enable()); keep this last.
from .models.patch import _enable_from_environment  # noqa: E402

_enable_from_environment()
