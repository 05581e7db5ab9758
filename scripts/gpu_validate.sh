#!/usr/bin/env bash
# One device call that validates every CUDA path of hwbench on a real NVIDIA GPU (issue 7).
# Run from the repo root on the GPU machine:  OUT=/some/dir bash scripts/gpu_validate.sh
# Everything it records lands in $OUT (at most 8 files come back from the device tool: keep it that way).
# Budget: about 6-7 minutes on an H100; each step has its own timeout so one hang cannot eat the call.
set -u
OUT=${OUT:-out/gpu_validate}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}
log() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/log.txt" >&2; }
step() {  # step NAME TIMEOUT_S CMD... : stdout to $OUT/NAME.json-or-txt, stderr appended to the log
    local name=$1 t=$2; shift 2
    log "$name: $*"
    timeout "$t" "$@" >"$OUT/$name" 2>>"$OUT/log.txt"
    local rc=$?
    echo "$name rc=$rc" >>"$OUT/rc.txt"
    return 0
}

log "card and driver"
{ nvidia-smi -q; nvidia-smi --query-gpu=name,pci.device_id,driver_version,clocks.max.sm --format=csv; } \
    >"$OUT/nvidia-smi.txt" 2>&1
$PY -c 'import torch,sys; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' \
    >>"$OUT/nvidia-smi.txt" 2>&1

# 1. the GPU-marked tests (they skip on CPU-only CI)
step pytest-gpu.txt 240 $PY -m pytest -q -m gpu -p no:cacheprovider tests

# 2. record everything detect reads (sysfs PCI, /proc, NVML) into one tarball: it becomes a test fixture at home
rm -rf /tmp/hwbench-dump
step detect-dump.txt 60 $PY -m hwbench detect --dump /tmp/hwbench-dump
tar -C /tmp -czf "$OUT/detect-dump.tgz" hwbench-dump 2>>"$OUT/log.txt"

# 3. the JSON documents, concatenated into one file (one document per line after jq-less compaction)
{
  for args in "detect --json" "peaks --json" \
              "mfu --device cuda --preset gpt2-124m --no-advise --json" \
              "mfu --device cuda --preset nanogpt-cpu --no-advise --json" \
              "check --min-gpus 1 --gpu-model *H100* --min-tflops bf16=600 --no-throttle --pcie-full --json"; do
      log "hwbench $args"
      echo "### hwbench $args"
      # shellcheck disable=SC2086
      timeout 240 $PY -m hwbench $args 2>>"$OUT/log.txt"
      echo "### rc=$?"
  done
} >"$OUT/hwbench-json.txt"

# 4. the reference: one plain 8192^3 bf16 torch.matmul timed here, to hold hwbench's ceiling against
step reference-matmul.txt 120 $PY - <<'PY'
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
$PY scripts/gpu_summary.py "$OUT" | tee "$OUT/summary.txt"
