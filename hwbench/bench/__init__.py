"""Measurements (torch is imported lazily, inside the modules that need it).

- `timing`  robust summaries: median, quartiles, VM-stall count
- `config`  GPTConfig and the presets (no torch)
- `flops`   parameter and FLOP counts (PaLM Appendix B, as nanoGPT), the model's GEMM shapes
- `gpt`     the nanoGPT-architecture model (imports torch)
- `matmul`  the GEMM ceiling: torch and numpy BLAS, per dtype, time-bounded
- `step`    one timed training step (forward, backward, clip, AdamW)
- `mfu`     run_mfu / mfu_payload: step + ceiling + peak -> MFU three ways
"""
