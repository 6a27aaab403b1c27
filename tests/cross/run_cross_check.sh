#!/usr/bin/env bash
# Builds tests/cross/cross_check.cpp with the C++ core and CPU backend (no Python, no pybind11)
# and runs it against the reference's expected values (tests/cross/make_expected.py).
#
#   tests/cross/run_cross_check.sh [aarch64|native]     (default aarch64)
#
# aarch64: aarch64-linux-gnu-g++ -static, run under qemu-aarch64 (Debian: g++-aarch64-linux-gnu,
# qemu-user). native: the host's g++, the same portable build, to prove the check itself.
# Environment: PYTHON (with NumPy; default python3), FI_CROSS_BUILD (build folder; default a
# fresh temporary one). Exit status: the check's (0 passed, 1 a mismatch, 2 an error), 3 when
# a tool is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${1:-aarch64}"
case "$target" in
  aarch64) cxx=aarch64-linux-gnu-g++; runner=(qemu-aarch64); link=(-static) ;;
  native) cxx="${CXX:-g++}"; runner=(); link=() ;;
  *) echo "usage: $0 [aarch64|native]" >&2; exit 2 ;;
esac
for tool in "$cxx" "${runner[@]}" "${PYTHON:-python3}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "run_cross_check: $tool not found (aarch64, Debian: apt-get install" \
         "g++-aarch64-linux-gnu qemu-user)" >&2
    exit 3
  fi
done
build="${FI_CROSS_BUILD:-$(mktemp -d)}"
mkdir -p "$build"

"${PYTHON:-python3}" "$root/tests/cross/make_expected.py" "$build/expected.txt"

# The flags of CMakeLists.txt (FI_FP_FLAGS): without -ffp-contract=off, g++ for aarch64 fuses
# a * b + c into one fmadd and the bits leave the reference's.
flags=(-std=c++17 -pthread -ffp-contract=off -fno-fast-math -fno-math-errno -fno-trapping-math)
# The CPU kernels as CMake builds them where no x86 instruction set is added: FI_ISA=base, -O3.
sources=(csrc/cpu/fill.cpp csrc/cpu/select.cpp csrc/cpu/pages.cpp csrc/cpu/pool.cpp
         csrc/cpu/split.cpp csrc/cpu/threads.cpp csrc/dispatch.cpp csrc/params.cpp
         csrc/testing/grid_emulate.cpp csrc/cuda/no_cuda.cpp tests/cross/cross_check.cpp)
compile() {
  local level=-O2
  [ "$1" = csrc/cpu/fill.cpp ] && level="-O3 -DFI_ISA=base"
  # shellcheck disable=SC2086
  "$cxx" "${flags[@]}" $level -c "$root/$1" -o "$build/$(basename "$1").o"
}
start=$(date +%s)
# Two at a time (CI machines have few cores): the slowest unit in the background.
compile csrc/testing/grid_emulate.cpp &
slowest=$!
for src in "${sources[@]}"; do
  [ "$src" = csrc/testing/grid_emulate.cpp ] || compile "$src" || exit 2
done
wait "$slowest" || exit 2
"$cxx" "${flags[@]}" "${link[@]}" "$build"/*.o -o "$build/cross_check" || exit 2
echo "run_cross_check: built for $target in $(( $(date +%s) - start )) s ($cxx)"

"${runner[@]}" "$build/cross_check" "$root/tests/data/philox4x32_10_kat.txt" "$build/expected.txt"
