"""The Python API (hwbench.peak_flops, flops_per_step, gpt_flops_per_token, MFU, detect): a light import,
peaks by device/dtype/name with their sources, FLOPs equal to FlopCounterMode's own count."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import hwbench
from hwbench.api import MFU, Peak, UnknownPeakError, dtype_key

# --------------------------------------------------------------------------------------- import


def test_import_is_light_and_fast() -> None:
    """`import hwbench` loads neither torch nor rich nor typer, and its cumulative import time is < 50 ms."""
    code = "import sys, hwbench; print(sorted(m for m in ('torch', 'rich', 'typer') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    line = next(ln for ln in r.stderr.splitlines() if ln.rstrip().endswith("| hwbench"))
    cumulative_us = int(line.split("|")[1])
    assert cumulative_us < 50_000, line


def test_public_names_resolve() -> None:
    for name in hwbench.__all__:
        assert getattr(hwbench, name) is not None, name
    with pytest.raises(AttributeError):
        _ = hwbench.no_such_name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "code",
    [
        # the facade first, then the subpackage's own functions
        "import hwbench; s = hwbench.detect(); import hwbench.detect as d; d.replay; print(s.cpu.model)",
        # the subpackage first (as the CLI does), then the facade
        "from hwbench.detect import detect_system; import hwbench; print(hwbench.detect().cpu.model)",
    ],
)
def test_detect_is_callable_and_still_a_package(code: str) -> None:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()


# --------------------------------------------------------------------------------------- peaks


@pytest.mark.parametrize(
    ("given", "key"),
    [
        (torch.bfloat16, "bf16"),
        ("bfloat16", "bf16"),
        ("BF16", "bf16"),
        ("torch.float16", "fp16"),
        ("half", "fp16"),
        (torch.float32, "fp32"),
        ("tf32", "tf32"),
        (torch.float8_e4m3fn, "fp8"),
        (torch.float64, "fp64"),
        ("int8", "int8"),
    ],
)
def test_dtype_names(given: object, key: str) -> None:
    assert dtype_key(given) == key


def test_unknown_dtype_is_an_input_error() -> None:
    with pytest.raises(hwbench.HwbenchError, match="unknown dtype"):
        dtype_key("float13")


def test_named_gpu_peak_is_the_dense_fp32_accumulate_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWBENCH_PEAK_TFLOPS", "bf16=1")  # names a card, not this process's device
    p = hwbench.peak_flops(gpu="NVIDIA GeForce RTX 4070 Ti", dtype="bfloat16")
    assert isinstance(p, Peak) and isinstance(p, float)
    assert p == 80.2e12
    assert (p.dtype, p.device, p.estimated) == ("bf16", "gpu", False)
    assert "FP32-accumulate" in p.source and "whitepaper" in p.source
    assert hwbench.peak_flops(gpu="10de:2782", dtype=torch.bfloat16) == 80.2e12  # by PCI id
    assert hwbench.peak_flops(gpu="NVIDIA H100 80GB HBM3", dtype="bf16") == 989.4e12  # dense, not 1979


def test_peak_is_read_only_and_pickles() -> None:
    import pickle

    p = hwbench.peak_flops(gpu="NVIDIA H100 80GB HBM3", dtype="bf16")
    with pytest.raises(AttributeError):
        p.source = "x"  # type: ignore[misc]
    q = pickle.loads(pickle.dumps(p))
    assert q == p and q.source == p.source and q.dtype == "bf16"


def test_unknown_gpu_raises_with_the_override_hint() -> None:
    with pytest.raises(UnknownPeakError) as e:
        hwbench.peak_flops(gpu="NVIDIA Made Up 9000", dtype="bf16")
    assert "Made Up 9000" in e.value.message
    assert e.value.hint is not None and "HWBENCH_PEAK_TFLOPS" in e.value.hint


def test_no_dtype_path_is_not_a_silent_default() -> None:
    with pytest.raises(UnknownPeakError, match="bf16"):
        hwbench.peak_flops(gpu="Tesla T4", dtype="bf16")  # Turing has no bf16 path


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(hwbench.DeviceUnavailableError, match="CUDA is not usable in torch"):
        hwbench.peak_flops("cuda", "bf16")
    with pytest.raises(hwbench.DeviceUnavailableError):
        hwbench.peak_flops(torch.device("cuda:1"), torch.bfloat16)


def test_bad_device_string() -> None:
    with pytest.raises(hwbench.HwbenchError, match="unknown device"):
        hwbench.peak_flops("tpu", "bf16")


def test_mps_not_here_is_a_device_error() -> None:
    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(hwbench.DeviceUnavailableError, match=r"peak_flops\(.mps.\): "):
        hwbench.peak_flops("mps", "bf16")


def test_an_accelerator_without_a_peak_names_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """An Apple GPU as the device layer would see it (stand-in: no MPS here): no table row, so no figure
    unless the user gives one; never another device's."""
    from hwbench.devices import mps

    monkeypatch.setattr(mps.MpsDevice, "available", classmethod(lambda cls: True))
    monkeypatch.setattr(mps, "apple_chip", lambda: "Apple M9 Imaginary")
    monkeypatch.delenv("HWBENCH_PEAK_TFLOPS", raising=False)
    with pytest.raises(UnknownPeakError) as e:
        hwbench.peak_flops("mps", "bf16")
    assert e.value.hint is not None and "HWBENCH_PEAK_TFLOPS=bf16=" in e.value.hint
    monkeypatch.setenv("HWBENCH_PEAK_TFLOPS", "bf16=165, fp32=82")
    p = hwbench.peak_flops("mps", "bf16")
    assert p == 165e12 and "HWBENCH_PEAK_TFLOPS" in p.source and p.device == "mps"
    with pytest.raises(UnknownPeakError):
        hwbench.peak_flops("mps", "fp16")  # only the dtypes given have a figure


def test_an_apple_gpu_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same stand-in with a chip the table has (Apple's own figure, fp32): routed through the
    device layer's table lookup, and bf16, which Apple does not publish, raises instead of guessing."""
    from hwbench.devices import mps

    monkeypatch.setattr(mps.MpsDevice, "available", classmethod(lambda cls: True))
    monkeypatch.setattr(mps, "apple_chip", lambda: "Apple M2")
    monkeypatch.delenv("HWBENCH_PEAK_TFLOPS", raising=False)
    p = hwbench.peak_flops("mps", torch.float32)
    assert p == 3.6e12 and "Apple M2" in p.source and p.device == "mps"
    with pytest.raises(UnknownPeakError, match="not published"):
        hwbench.peak_flops("mps", "bf16")


def test_peaks_layer_takes_torch_devices_and_dtype_names() -> None:
    from hwbench.peaks import gpu_peak, peak_for_device

    p = gpu_peak("NVIDIA GeForce RTX 4070 Ti")
    assert p is not None and p.peak("bfloat16") == p.peak(torch.bfloat16) == p.peak("bf16") == 80.2
    cpu = peak_for_device(torch.device("cpu"), None, threads=1, measure=False)
    assert cpu is not None and cpu.device == "cpu"


def test_bad_env_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWBENCH_PEAK_TFLOPS", "bf16=fast")
    with pytest.raises(hwbench.HwbenchError, match=r"^HWBENCH_PEAK_TFLOPS: "):
        hwbench.peak_flops("cpu", "bf16")


def test_cpu_peak_counts_the_threads_torch_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HWBENCH_PEAK_TFLOPS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        p = hwbench.peak_flops(torch.device("cpu"), torch.float32)
    finally:
        torch.set_num_threads(before)
    assert (p.device, p.dtype) == ("cpu", "fp32") and p > 0
    assert re.match(r"computed: 1 cores? x \d+ FLOP/cycle", p.source), p.source
    with pytest.raises(UnknownPeakError, match="TF32"):
        hwbench.peak_flops("cpu", "tf32")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without an accelerator")
def test_no_device_is_torchs_current_one_and_no_dtype_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HWBENCH_PEAK_TFLOPS", raising=False)
    p = hwbench.peak_flops()
    assert (p.device, p.dtype) == ("cpu", "fp32")


def test_cpu_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWBENCH_PEAK_TFLOPS", "bf16=165")
    p = hwbench.peak_flops("cpu", "bf16")
    assert p == 165e12 and p.source == "user override (HWBENCH_PEAK_TFLOPS: bf16=165 TFLOP/s)"


# --------------------------------------------------------------------------------------- FLOPs


def _counted(model: nn.Module, x: torch.Tensor, math_sdpa: bool = False) -> int:
    """FlopCounterMode's own count of forward + mean-loss backward, as a user would write it."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model.zero_grad(set_to_none=True)
    ctx = sdpa_kernel(SDPBackend.MATH) if math_sdpa else contextlib.nullcontext()
    with ctx, FlopCounterMode(display=False) as fc:
        model(x).mean().backward()
    model.zero_grad(set_to_none=True)
    return int(fc.get_total_flops())


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.c2(F.relu(self.c1(x)))).flatten(1))


class SdpaBlock(nn.Module):
    def __init__(self, c: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(c, 3 * c)
        self.out = nn.Linear(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, c))


def test_flops_per_step_cnn_and_mlp_equal_flopcountermode() -> None:
    torch.manual_seed(0)
    cnn, x = SmallCNN(), torch.randn(4, 3, 16, 16)
    mlp = nn.Sequential(nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 10))
    xm = torch.randn(8, 32)
    assert hwbench.flops_per_step(cnn, x) == _counted(cnn, x) > 0
    assert hwbench.flops_per_step(mlp, xm) == _counted(mlp, xm)
    # the MLP by hand: forward 2*B*(32*128 + 128*10); backward twice that, less the input's gradient
    # of the first layer (x does not require grad): 3x forward - 2*B*32*128
    fwd = 2 * 8 * (32 * 128 + 128 * 10)
    assert hwbench.flops_per_step(mlp, xm) == 3 * fwd - 2 * 8 * 32 * 128
    assert hwbench.flops_per_step(mlp, xm, backward=False) == fwd


def test_flops_per_step_transformer_with_sdpa() -> None:
    torch.manual_seed(0)
    blk, x = SdpaBlock(), torch.randn(2, 32, 64, requires_grad=False)
    n = hwbench.flops_per_step(blk, x)
    assert n == _counted(blk, x, math_sdpa=True)
    b, t, c, h = 2, 32, 64, 4
    attention = 12 * b * h * t * t * (c // h)  # QK^T and AV, forward + backward, full T x T
    if not torch.cuda.is_available():
        # documented: torch has no FLOP formula for the fused CPU SDPA kernel, so FlopCounterMode alone
        # misses the attention on CPU; flops_per_step counts it through the math backend
        assert _counted(blk, x) == n - attention


def test_flops_per_step_restores_gradients_and_takes_loss_fn() -> None:
    mlp = nn.Sequential(nn.Linear(4, 4))
    x = torch.randn(3, 4)
    mlp(x).sum().backward()
    before = [p.grad.clone() for p in mlp.parameters() if p.grad is not None]
    n = hwbench.flops_per_step(mlp, x, loss_fn=lambda out: out.pow(2).sum())
    assert n == 3 * 2 * 3 * 4 * 4 - 2 * 3 * 4 * 4
    after = [p.grad for p in mlp.parameters()]
    assert all(a is not None and torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_our_gpt_against_the_formula() -> None:
    """FlopCounterMode counts matmuls only; the PaLM formula's 6N counts every parameter. The documented
    difference: 6 x (LayerNorm weights + biases, Linear biases) x tokens."""
    from hwbench.bench.config import PRESETS
    from hwbench.bench.flops import flops_per_step as formula
    from hwbench.bench.gpt import GPT

    for bias in (False, True):
        cfg = PRESETS["nanogpt-cpu"].with_overrides(bias=bias)
        torch.manual_seed(0)
        model = GPT(cfg)
        idx = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.block_size))
        counted = hwbench.flops_per_step(model, (idx, idx))
        not_matmul = sum(p.numel() for n, p in model.named_parameters() if "ln" in n or n.endswith(".bias"))
        assert formula(cfg) - counted == 6 * not_matmul * cfg.tokens_per_step
    per_token = hwbench.gpt_flops_per_token(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65)
    assert per_token * 768 == formula(PRESETS["nanogpt-cpu"])
    assert (
        hwbench.gpt_flops_per_token(n_layer=4, n_head=4, n_embd=128, block_size=64, n_params=795_904)
        == per_token
    )


# --------------------------------------------------------------------------------------- MFU


def _peak(tflops: float) -> Peak:
    return Peak(
        tflops * 1e12, dtype="bf16", device="cuda:0", name="test card", source="given", estimated=False
    )


def test_mfu_update_median_and_summary() -> None:
    m = MFU(31.2e12, peak=_peak(80.2), window=3)
    assert m.median is None and "no steps yet" in str(m.summary())
    assert m.update(1.0) == pytest.approx(31.2 / 80.2)
    m.update(2.0)
    m.update(1.0)
    m.update(1.0)  # window 3: the 2.0 s step is still in it, but the median is 1.0
    s = m.summary()
    assert (s.steps, s.median_of_steps) == (4, 3)
    assert s.mfu_median == pytest.approx(0.389, abs=5e-4) and s.achieved_tflops == pytest.approx(31.2)
    assert (s.world_size, s.world_achieved_tflops) == (1, pytest.approx(31.2))
    assert str(s).startswith("MFU 38.9% (median of 3 steps) = 31.2 / 80.2 TFLOP/s bf16 on cuda:0")
    assert s.as_dict()["peak_source"] == "given"


def test_mfu_takes_a_plain_peak_figure_and_says_it_was_given() -> None:
    m = MFU(31.2e12, "cuda:0", "bf16", peak=80.2e12)
    assert m.update(1.0) == pytest.approx(31.2 / 80.2)
    assert m.summary().peak_source == "given by the caller" and m.summary().dtype == "bf16"
    for bad in (0, -1.0, float("nan"), "80e12", True):
        with pytest.raises(hwbench.HwbenchError, match="peak must be a positive number"):
            MFU(1e9, peak=bad)  # type: ignore[arg-type]
    with pytest.raises(hwbench.HwbenchError, match="is it TFLOP/s"):
        MFU(1e12, "cpu", "fp32", peak=312)  # 312 TFLOP/s written as FLOP/s
    one = MFU(31.2e12, peak=_peak(80.2))
    one.update(1.0)
    assert "(median of 1 step)" in str(one.summary())


def test_mfu_above_peak_warns_once_and_bad_input_raises() -> None:
    m = MFU(100e12, peak=_peak(80.2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.update(1.0)
        m.update(1.0)
    assert len([w for w in caught if "above 100%" in str(w.message)]) == 1
    # the step's own ratio is returned as measured; the median and the printed summary never pass 100%
    assert (
        m.median is None
        and m.summary().mfu_median is None
        and m.summary().mfu_last == pytest.approx(1.247, abs=1e-3)
    )
    assert str(m.summary()).startswith(
        "MFU n/a: the median step ran 100 TFLOP/s, above the 80.2 TFLOP/s bf16"
    )
    with pytest.raises(hwbench.HwbenchError):
        m.update(0.0)
    with pytest.raises(hwbench.HwbenchError):
        MFU(0.0, peak=_peak(1))


def test_mfu_world_figures_under_torch_distributed(tmp_path: object) -> None:
    """Two gloo ranks on this CPU: each reports its own rate and the world's (rate x 2)."""
    code = (
        "import os, sys, torch.distributed as dist, hwbench\n"
        "from hwbench.api import Peak\n"
        "rank = int(sys.argv[1])\n"
        "dist.init_process_group('gloo', init_method='file://' + sys.argv[2], rank=rank, world_size=2)\n"
        "m = hwbench.MFU(10e12, peak=Peak(100e12, dtype='fp32', device='cpu', name='x', source='s', "
        "estimated=False))\n"
        "m.update(1.0)\n"
        "s = m.summary()\n"
        "print(s.world_size, s.achieved_tflops, s.world_achieved_tflops)\n"
        "dist.destroy_process_group()\n"
    )
    store = f"{tmp_path}/store"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(r), store], stdout=subprocess.PIPE, text=True)
        for r in (0, 1)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs == ["2 10.0 20.0", "2 10.0 20.0"]


def test_peak_by_pci_id_in_both_spellings() -> None:
    """lspci's 10de:2684 and sysfs's 0x10de:0x2684 name the same card (an RTX 4090)."""
    a = hwbench.peak_flops(gpu="10de:2684", dtype="bf16")
    b = hwbench.peak_flops(gpu="0x10de:0x2684", dtype="bf16")
    assert float(a) == float(b) == 165.2e12


def test_override_and_computed_are_typed_not_read_from_the_source_text() -> None:
    from hwbench.peaks.gpu import gpu_peak
    from hwbench.peaks.overrides import with_overrides

    h100 = gpu_peak("NVIDIA H100 80GB HBM3")
    assert h100 is not None and not h100.computed and h100.overridden == ()
    mine = with_overrides(h100, {"bf16": 900.0})
    assert (
        mine.overridden == ("bf16",) and mine.peak("bf16") == 900.0 and mine.peak("fp16") == h100.peak("fp16")
    )
    cpu = hwbench.peak_flops("cpu", "fp32")
    assert cpu.source.startswith("computed:")  # the wording follows the typed field, not the other way
