"""Every random stream of a run derives from (root seed, seed index, purpose).

Initial weights and the batch order come from ``(root, seed, "init")`` and
``(root, seed, "data")``; a rule's own randomness from ``(root, seed, "rule:" + name)``.
Adding a rule or a condition therefore changes no other run, and the backprop
reference of a rule run starts from exactly the weights of the backprop run.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch


def seed_int(root_seed: int, seed: int, purpose: str) -> int:
    """A 63-bit integer seed from ``numpy.random.SeedSequence([root, seed, crc32(purpose)])``."""
    ss = np.random.SeedSequence([int(root_seed), int(seed), zlib.crc32(purpose.encode())])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def generator(root_seed: int, seed: int, purpose: str) -> torch.Generator:
    """A CPU ``torch.Generator`` for one purpose of one run."""
    return torch.Generator().manual_seed(seed_int(root_seed, seed, purpose))
