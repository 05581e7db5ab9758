"""hwbench's training step vs nanoGPT's own train.py, same config, same machine, interleaved.

nanoGPT's code is NOT part of this repository: get it yourself (any recent checkout of
https://github.com/karpathy/nanoGPT) and point --nanogpt-dir at it. The script prepares a random
shakespeare_char-shaped data set in a temporary directory (uint16 tokens < 65 in train.bin/val.bin
and meta.pkl with vocab_size 65, the layout nanoGPT's data/shakespeare_char/prepare.py writes), then
runs nanoGPT's README CPU command:

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
        --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
        --max_iters=... --lr_decay_iters=2000 --dropout=0.0

(plus --eval_interval large so it evaluates only at iteration 0, and --out_dir in the temp dir), and
takes the median of the "time ...ms" it prints for iterations >= 5 (nanoGPT itself skips the first 5
for its MFU). hwbench's `measure_step` runs the same config in this process. The runs alternate
(nanoGPT, hwbench, nanoGPT, hwbench, ...) so both see the same machine load; the ratio of medians is
reported per round and overall.

What differs, by design: nanoGPT's iteration also fetches the next batch from the memmap (random
offsets, numpy -> torch) and calls loss.item() every iteration (log_interval=1); hwbench's step uses
pre-made random batches. Both: fp32, eager, AdamW (fused off on CPU), grad clip 1.0, same model.

A second method (--in-process-rounds, default 20) imports nanoGPT's model.py and times its GPT and
hwbench's GPT in one process with the same step loop, alternating chunks of 10 steps: far less
sensitive to load drift, and it isolates the model code from train.py's loop.

    python benchmarks/nanogpt_side_by_side.py --nanogpt-dir /tmp/nanogpt [--rounds 3] [--iters 80]
"""

from __future__ import annotations

import argparse
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ITER_RE = re.compile(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms, mfu (-?[\d.]+)%", re.M)
README_ARGS = [
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
]


def prepare_data(root: Path, vocab: int = 65, n_train: int = 1_000_000, n_val: int = 100_000) -> None:
    import numpy as np

    d = root / "data" / "shakespeare_char"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rng.integers(0, vocab, n_train, dtype=np.uint16).tofile(d / "train.bin")
    rng.integers(0, vocab, n_val, dtype=np.uint16).tofile(d / "val.bin")
    with open(d / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": vocab}, f)


def run_nanogpt(nanogpt: Path, work: Path, iters: int, threads: int | None) -> tuple[float, float, int]:
    """(median ms of iterations >= 5, last printed mfu %, iterations parsed)."""
    cmd = [
        sys.executable,
        str(nanogpt / "train.py"),
        str(nanogpt / "config" / "train_shakespeare_char.py"),
        *README_ARGS,
        f"--max_iters={iters}",
        "--eval_interval=1000000",
        f"--out_dir={work / 'out'}",
    ]
    env = None
    if threads:
        import os

        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    # train.py execs configurator.py from the working directory and reads data/<dataset> there
    link = work / "configurator.py"
    if not link.exists():
        link.symlink_to(nanogpt / "configurator.py")
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode != 0:
        sys.exit(f"nanoGPT train.py failed (rc {r.returncode}):\n{r.stderr[-3000:]}")
    rows = [(int(i), float(ms), float(mfu)) for i, ms, mfu in ITER_RE.findall(r.stdout)]
    times = [ms for i, ms, _ in rows if i >= 5]
    if not times:
        sys.exit(f"no iteration lines parsed from nanoGPT output:\n{r.stdout[-2000:]}")
    return statistics.median(times), rows[-1][2], len(times)


def run_hwbench(steps: int, threads: int | None) -> tuple[float, int, int]:
    """(median ms, steps timed, stalls) of hwbench's step for the seed preset, same threads."""
    from hwbench.bench.config import PRESETS
    from hwbench.bench.step import StepOptions, measure_step

    r = measure_step(
        PRESETS["nanogpt-cpu"], StepOptions(device="cpu", warmup=5, steps=steps, threads=threads)
    )
    return r.timing.median_s * 1e3, r.timing.n, r.timing.stalls


def run_models_in_process(nanogpt: Path, rounds: int, chunk: int) -> None:
    """Second method: nanoGPT's model.py GPT and hwbench's GPT in this process, same step loop
    (forward+loss, backward, clip 1.0, AdamW, zero_grad), alternating chunks of `chunk` steps, so
    load drift on a shared machine hits both alike. Isolates the model code from train.py's loop."""
    import time

    import torch

    from hwbench.bench.config import PRESETS
    from hwbench.bench.gpt import GPT

    sys.path.insert(0, str(nanogpt))
    import model as ng  # nanoGPT's model.py, from the checkout given (never vendored)

    seed = PRESETS["nanogpt-cpu"]
    ng_cfg = ng.GPTConfig(
        block_size=seed.block_size,
        vocab_size=seed.vocab_size,
        n_layer=seed.n_layer,
        n_head=seed.n_head,
        n_embd=seed.n_embd,
        dropout=0.0,
        bias=False,
    )
    theirs = ng.GPT(ng_cfg)
    their_opt = theirs.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    ours = GPT(seed)
    our_opt = ours.optimizer(lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99))
    x = torch.randint(0, seed.vocab_size, (seed.batch_size, seed.block_size))
    y = torch.randint(0, seed.vocab_size, (seed.batch_size, seed.block_size))

    def step_theirs() -> None:
        _, loss = theirs(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        their_opt.step()
        their_opt.zero_grad(set_to_none=True)

    def step_ours() -> None:
        loss = ours(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
        our_opt.step()
        our_opt.zero_grad(set_to_none=True)

    for fn in (step_theirs, step_ours, step_theirs, step_ours):
        fn()  # warm-up
    ratios, t_all, o_all = [], [], []
    for _ in range(rounds):
        per: dict[str, list[float]] = {"theirs": [], "ours": []}
        for name, fn in (("theirs", step_theirs), ("ours", step_ours)):
            for _ in range(chunk):
                t0 = time.perf_counter()
                fn()
                per[name].append(time.perf_counter() - t0)
        t_med, o_med = statistics.median(per["theirs"]), statistics.median(per["ours"])
        ratios.append(o_med / t_med)
        t_all += per["theirs"]
        o_all += per["ours"]
    print(
        f"in-process, same loop, {rounds} rounds x {chunk} steps each, alternating: nanoGPT model.py "
        f"median {statistics.median(t_all) * 1e3:.2f} ms, "
        f"hwbench GPT {statistics.median(o_all) * 1e3:.2f} ms, "
        f"median of per-round ratios {statistics.median(ratios):.3f} "
        f"(range {min(ratios):.3f}-{max(ratios):.3f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--nanogpt-dir", type=Path, default=Path("/tmp/nanogpt"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=80, help="nanoGPT max_iters (and hwbench steps) per round")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS / torch threads for both")
    ap.add_argument("--in-process-rounds", type=int, default=20, help="0 skips the in-process method")
    ap.add_argument("--skip-train-py", action="store_true", help="only the in-process method")
    args = ap.parse_args()
    if not (args.nanogpt_dir / "train.py").exists():
        sys.exit(f"no nanoGPT checkout at {args.nanogpt_dir} (git clone https://github.com/karpathy/nanoGPT)")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; nanoGPT at {args.nanogpt_dir}")
    if args.in_process_rounds:
        run_models_in_process(args.nanogpt_dir, args.in_process_rounds, 10)
    if args.skip_train_py:
        return
    ratios = []
    ours_all, theirs_all = [], []
    with tempfile.TemporaryDirectory(prefix="nanogpt_sbs_") as tmp:
        work = Path(tmp)
        prepare_data(work)
        for rnd in range(1, args.rounds + 1):
            theirs, mfu, n_theirs = run_nanogpt(args.nanogpt_dir, work, args.iters, args.threads)
            ours, n_ours, stalls = run_hwbench(args.iters, args.threads)
            ratios.append(ours / theirs)
            ours_all.append(ours)
            theirs_all.append(theirs)
            print(
                f"round {rnd}: nanoGPT train.py median {theirs:.2f} ms ({n_theirs} iters, it printed mfu "
                f"{mfu:.2f}%), hwbench step median {ours:.2f} ms ({n_ours} steps, {stalls} stalls), "
                f"ratio hwbench/nanoGPT {ours / theirs:.3f}"
            )
    print(
        f"overall: nanoGPT {statistics.median(theirs_all):.2f} ms, "
        f"hwbench {statistics.median(ours_all):.2f} ms, "
        f"median ratio {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
