#!/usr/bin/env bash
# The GPU check: everything a machine with an NVIDIA GPU must confirm, in one call of a few
# minutes (under 8 on an H100/H200, the build included).
#
#   bash benchmarks/gpu_check.sh OUTDIR
#
# From this workplace's device tool: run(command="bash benchmarks/gpu_check.sh $OUT"). Run it
# from the repository root, in a Python that has torch, pybind11, scikit-build-core, cmake and
# ninja (nothing is downloaded). Steps, each with its own time limit, each run whatever the
# previous ones gave:
#   1. facts: GPU, driver, nvcc, Python, torch;
#   2. build: pip install --no-build-isolation --no-deps . (FASTINIT_CUDA=ON where nvcc is found);
#   3. tests: tests/engine/test_cuda.py, the host proofs of the kernels' division of work
#      (test_grid_map.py, test_tile_map.py), every test marked cuda, and the DLPack target tests;
#   4. benchmarks/throughput.py --devices cuda: uniform_, normal_, trunc_normal_, kaiming_uniform_,
#      xavier_normal_ and the fill_ reference, fastinit and torch side by side, float32,
#      bfloat16, float16, float64;
#   5. benchmarks/gpu_kernels.py: every dtype and layout of fastinit's kernel against the
#      device's fill_ and copy_ bandwidth;
#   6. benchmarks/philox_mul.cu: Philox alone, two ways to form its products;
#   7. ncu (when present): issue-slot and DRAM utilisation of four fills, what bounds each.
# OUTDIR receives gpu_check.log (all output), sass.txt and philox_sass.txt (sm_90 machine code,
# where cuobjdump is present), throughput.json, gpu_kernels.json, ncu.txt and summary.json (each
# step's exit status and seconds). Without a GPU (a dry run on a CPU machine) the build and the
# tests run, the GPU tests skip, and the GPU steps say they were skipped.
# Exit status 0 when every step that ran passed.
set -uo pipefail
out="${1:?usage: bash benchmarks/gpu_check.sh OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$(dirname "$0")/.."
exec > >(tee "$out/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
declare -A status seconds
order=()

step() {  # step NAME LIMIT_SECONDS COMMAND...
  local name="$1" limit="$2"
  shift 2
  order+=("$name")
  echo
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  if declare -F "$1" >/dev/null; then  # a function of this script: run it in a child bash
    timeout --kill-after=10 "$limit" bash -c "$1"
  else
    timeout --kill-after=10 "$limit" "$@"
  fi
  status[$name]=$?
  seconds[$name]=$((SECONDS - t0))
  echo "=== $name: exit ${status[$name]} in ${seconds[$name]}s"
}

skip() {  # skip NAME REASON
  order+=("$1")
  status[$1]=skipped
  seconds[$1]=0
  echo
  echo "=== $1: skipped ($2)"
}

facts() {
  date -u +"%Y-%m-%d %H:%M:%S UTC"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
    --format=csv 2>/dev/null || echo "nvidia-smi: not available"
  nvcc --version 2>/dev/null | tail -n 2 || echo "nvcc: not found"
  "$py" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available())"
}

build() {
  if command -v nvcc >/dev/null 2>&1; then export FASTINIT_CUDA=ON; fi
  "$py" -m pip install --no-build-isolation --no-deps -v . 2>&1 | grep -E "fastinit: CUDA|error|Error|warning: |Successfully" || true
  "$py" -c "import fastinit, fastinit._core as c; print('fastinit', fastinit.__version__, 'built_with_cuda', c.built_with_cuda, 'cuda_available', fastinit.cuda_available(), 'isa', fastinit.cpu_isa())"
}

has_gpu() {
  "$py" -c "import sys, torch, fastinit; sys.exit(0 if torch.cuda.is_available() and fastinit.cuda_available() else 1)" 2>/dev/null
}

sass_dump() {  # the machine code of three fill kernels (the whole module is over 16 MB)
  local so
  so="$("$py" -c 'import fastinit._core as c; print(c.__file__)')"
  cuobjdump --dump-sass --gpu-architecture sm_90 "$so" > /tmp/fastinit_sass.txt || return 1
  awk '/Function :/ { keep = ($0 ~ /fill_kernelIfLb1ENS_9Uniform32/ ||
                              $0 ~ /fill_kernelIfLb1ENS_8Normal32/ ||
                              $0 ~ /fill_kernelINS_6bf16_tELb1ENS_8Normal32/) } keep' \
    /tmp/fastinit_sass.txt > "$out/sass.txt"
  wc -l /tmp/fastinit_sass.txt "$out/sass.txt"
}

philox_mul() {  # Philox alone: two ways to multiply, one or two blocks per thread
  nvcc -O3 -std=c++17 -arch=sm_90 benchmarks/philox_mul.cu -o /tmp/philox_mul && /tmp/philox_mul &&
    cuobjdump --dump-sass /tmp/philox_mul > "$out/philox_sass.txt"
}

ncu_report() {
  local script="import torch, fastinit
t = torch.empty(1 << 26, device='cuda'); h = torch.empty(1 << 26, dtype=torch.bfloat16, device='cuda')
fastinit.uniform_(t, seed=1); fastinit.normal_(t, seed=1); fastinit.uniform_(h, seed=1)
fastinit.normal_(h, seed=1)
torch.cuda.synchronize()"
  ncu --clock-control none -k regex:fill_kernel --metrics \
gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__grid_size \
    "$py" -c "$script" 2>&1 | tee "$out/ncu.txt" | grep -vE "^==PROF==" | tail -n 60
  # which pipe is busiest (a second pass: a metric this ncu lacks must not lose the first)
  ncu --clock-control none -k regex:fill_kernel --metrics \
sm__pipe_alu_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active,sm__pipe_shared_cycles_active.avg.pct_of_peak_sustained_active \
    "$py" -c "$script" 2>&1 | tee -a "$out/ncu.txt" | grep -E "fill_kernel|pct" | sed 's/(Plan.*//'
}

export py out
export -f facts build sass_dump philox_mul ncu_report
step facts 60 facts
step build 300 build
if command -v cuobjdump >/dev/null 2>&1; then
  step sass 60 sass_dump
else
  skip sass "cuobjdump not found"
fi
step tests 300 "$py" -m pytest -q -p no:cacheprovider tests/engine/test_cuda.py \
  tests/engine/test_grid_map.py tests/engine/test_tile_map.py tests/engine/test_targets.py
step cuda_marked 120 "$py" -m pytest -q -p no:cacheprovider -m cuda tests \
  --ignore tests/engine/test_cuda.py
if has_gpu; then
  step throughput 240 "$py" benchmarks/throughput.py --devices cuda \
    --dtypes float32,bfloat16,float16,float64 \
    --ops uniform_,normal_,trunc_normal_,kaiming_uniform_,xavier_normal_,fill_ --repeats 10 \
    --json "$out/throughput.json"
  step gpu_kernels 180 "$py" benchmarks/gpu_kernels.py --json "$out/gpu_kernels.json"
  step philox_mul 60 philox_mul
  if command -v ncu >/dev/null 2>&1; then
    step ncu 120 ncu_report
  else
    skip ncu "ncu not found"
  fi
else
  for s in throughput gpu_kernels philox_mul ncu; do skip "$s" "no CUDA GPU usable by torch and fastinit"; done
fi

failed=0
{
  echo "{"
  for i in "${!order[@]}"; do
    n="${order[$i]}"
    sep=","; [ "$i" -eq $((${#order[@]} - 1)) ] && sep=""
    echo "  \"$n\": {\"status\": \"${status[$n]}\", \"seconds\": ${seconds[$n]}}$sep"
    [ "${status[$n]}" = 0 ] || [ "${status[$n]}" = skipped ] || failed=1
  done
  echo "}"
} > "$out/summary.json"
echo
echo "=== summary"
cat "$out/summary.json"
exit "$failed"
