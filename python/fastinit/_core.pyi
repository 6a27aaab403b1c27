"""Type stub for the compiled module (csrc/bindings/module.cpp). Use the fastinit package."""

from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

KIND_UNIFORM: int
KIND_NORMAL: int
KIND_TRUNC_NORMAL: int
KIND_CONSTANT: int
KIND_BITS: int
DTYPE_BF16: int
DTYPE_F8E4M3FN: int
DTYPE_F8E5M2: int
built_with_cuda: bool

def fill(
    target: Any,
    fn: str,
    kind: int,
    params: Sequence[float],
    key: int,
    stream: int,
    global_shape: Sequence[int],
    global_offset: Sequence[int],
    index_offset: int = 0,
    dtype_override: int = -1,
    cuda_stream: int = 0,
    key_source: Optional[Callable[[], Tuple[int, int]]] = None,
) -> None: ...
def grid_emulate(
    target: Any,
    fn: str,
    kind: int,
    params: Sequence[float],
    key: int,
    stream: int,
    global_shape: Sequence[int],
    global_offset: Sequence[int],
    index_offset: int = 0,
    dtype_override: int = -1,
    sms: int = 132,
    blocks_per_sm: int = 4,
    fault: int = 0,
) -> dict[str, int]: ...
def tile_emulate(
    target: Any,
    fn: str,
    kind: int,
    params: Sequence[float],
    key: int,
    stream: int,
    global_shape: Sequence[int],
    global_offset: Sequence[int],
    index_offset: int = 0,
    dtype_override: int = -1,
    tile_m: int = 32,
    tile_l: int = 32,
    ctas: int = 4,
    threads: int = 256,
    fault: int = 0,
) -> dict[str, Any]: ...
def philox4x32_10(counters: npt.ArrayLike, keys: npt.ArrayLike) -> npt.NDArray[np.uint32]: ...
def cpu_isa() -> str: ...
def isa_request_note(value: str | None, running: str) -> str: ...
def set_num_threads(n: int) -> None: ...
def max_threads() -> int: ...
def memory_overlaps(shape: list[int], strides: list[int], itemsize: int) -> bool: ...
def get_num_threads() -> int: ...
def clear_num_threads() -> None: ...
def set_thread_limit(n: int) -> None: ...
def thread_limit() -> int: ...
def set_grain_scale(scale: float) -> None: ...
def grain_scale() -> float: ...
def pool_workers() -> int: ...
def split(target: Any, fn: str, kind: int, params: Sequence[float]) -> tuple[int, int]: ...
def set_worker_delay_us(us: int, holding_task: bool = False) -> None: ...
def pool_backing_off() -> bool: ...
def cuda_available() -> bool: ...
