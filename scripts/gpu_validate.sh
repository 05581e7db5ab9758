#!/usr/bin/env bash
# One device call that validates every GPU path of hwbench on a real NVIDIA GPU, any model.
# Run from the repo root on the GPU machine:  OUT=/some/dir bash scripts/gpu_validate.sh
# Everything it records lands in $OUT (at most 8 files come back from the device tool: keep it that way):
# the detect dump (sysfs, /proc, NVML recording, torch metadata) becomes a tests/fixtures/machines recording,
# timings.txt says how long each step took.
# Budget: the timeouts below sum to 460 s (30 + 120 + 30 + 240 + 40), under one 8-minute (480 s) device call;
# no threshold in here holds only on one GPU model (the check asks for a fraction of the card's own peak).
set -u
OUT=${OUT:-out/gpu_validate}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}
log() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/log.txt" >&2; }
step() {  # step NAME TIMEOUT_S CMD... : stdout to $OUT/NAME, stderr appended to the log
    local name=$1 t=$2; shift 2
    log "$name: $*"
    local t0=$SECONDS
    timeout "$t" "$@" >"$OUT/$name" 2>>"$OUT/log.txt"
    local rc=$?
    echo "$name rc=$rc $((SECONDS - t0))s of ${t}s" >>"$OUT/timings.txt"
    return 0
}

log "card and driver"
{ timeout 10 nvidia-smi -q; timeout 5 nvidia-smi --query-gpu=name,pci.device_id,driver_version,clocks.max.sm --format=csv; } \
    >"$OUT/nvidia-smi.txt" 2>&1
timeout 15 "$PY" -c 'import torch,sys; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' \
    >>"$OUT/nvidia-smi.txt" 2>&1

# 1. the GPU-marked tests (they skip on CPU-only CI)
step pytest-gpu.txt 120 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests

# 2. record everything detect reads (sysfs PCI, /proc, NVML) into one tarball: it becomes a test fixture at home
rm -rf /tmp/hwbench-dump
step detect-dump.txt 30 "$PY" -m hwbench detect --dump /tmp/hwbench-dump
tar -C /tmp -czf "$OUT/detect-dump.tgz" hwbench-dump 2>>"$OUT/log.txt"

# 3. the JSON documents, concatenated into one file; each command is an array (no word splitting, no
# glob expanded by the shell) with its own timeout: 20 + 20 + 80 + 60 + 60 = 240 s
run_json() {  # run_json TIMEOUT_S ARGS... : one "### hwbench ARGS" section of hwbench-json.txt
    local t=$1; shift
    log "hwbench $*"
    echo "### hwbench $*"
    local t0=$SECONDS
    timeout "$t" "$PY" -m hwbench "$@" 2>>"$OUT/log.txt"
    local rc=$?
    echo "### rc=$rc"
    echo "hwbench $* rc=$rc $((SECONDS - t0))s of ${t}s" >>"$OUT/timings.txt"
}
{
  run_json 20 detect --json
  run_json 20 peaks --json
  # eager: a cold torch.compile of GPT-2 124M alone can take most of its 80 s
  run_json 80 mfu --device cuda --preset gpt2-124m --quick --no-compile --no-advise --json
  run_json 60 mfu --device cuda --preset nanogpt-cpu --quick --no-advise --json
  run_json 60 check --min-gpus 1 --min-fraction-of-peak "bf16=0.3" --no-throttle --pcie-full --level quick --json
} >"$OUT/hwbench-json.txt"

# 4. the reference: one plain 8192^3 bf16 torch.matmul timed here, to hold hwbench's ceiling against
step reference-matmul.txt 40 "$PY" - <<'PY'
import torch, statistics
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
for _ in range(10):
    a @ b
torch.cuda.synchronize()
times = []
for _ in range(30):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); a @ b; e.record(); torch.cuda.synchronize()
    times.append(s.elapsed_time(e) / 1e3)
med = statistics.median(times)
print(f"plain torch.matmul 8192^3 bf16: {2 * 8192**3 / med / 1e12:.1f} TFLOP/s (median of 30, CUDA events)")
PY

# 5. the short table, last
# (printed, not saved: the device tool returns at most 8 files and shows the end of stdout)
"$PY" scripts/gpu_summary.py "$OUT"
