"""Whether a failure is an out-of-memory one: the one rule for a run and for its experiments' chunks."""

from __future__ import annotations

# What allocators say when they run out: CUDA's OutOfMemoryError message, the CPU allocator's
# ("DefaultCPUAllocator: not enough memory"), glibc's ("can't allocate memory"), MPS's RuntimeError
_MARKERS = ("out of memory", "not enough memory", "can't allocate memory")


def is_oom(e: BaseException) -> bool:
    """torch.OutOfMemoryError (CUDA's, and every backend's from torch 2.5) by its class, without
    importing torch; else an allocator's RuntimeError, by what it says (the only thing it carries)."""
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(e).__mro__):
        return True
    return isinstance(e, MemoryError) or any(m in str(e).lower() for m in _MARKERS)
