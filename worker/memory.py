"""Keep freed memory in the training process instead of handing it back to the OS on every step.

glibc serves allocations above its mmap threshold (128 KiB, rising up to 32 MiB as it adapts) with fresh
`mmap`s and trims the heap top when more than 128 KiB is free. A training step frees and reallocates the same
activation and gradient buffers every step, so for an MLP with 2048-unit layers glibc mapped, zero-filled and
unmapped 16 MB buffers thousands of times an epoch: 40 % of the CPU time went to the kernel, and training ran
1.7x slower than with the buffers kept (bench: `MALLOC_*` ablation in bench/RESULTS.md, "Training overhead").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2, which is 32 MiB on 64-bit Linux.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Give memory back to the OS only when this much is free at the top of the heap.
TRIM_THRESHOLD_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where libc is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # musl, macOS, Windows: their allocators have no mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    done = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and done
    if not done:
        logger.warning("mallopt refused the allocator thresholds; training may spend time in the kernel")
    return done
