"""Compiled loops for UORO, e-prop, RFLO and KF-RTRL (``kernels.c`` beside this file).

On a CPU, eager PyTorch spends most of an online step of these rules on the fixed cost
of a dozen small operations, and passes over the per-sequence state (batch x n x P)
once per operation. The C loops run a whole sequence per call and make one pass over
that state per step, which updates it, adds its part of the estimate and (UORO) measures
its norm for the next step. They compute the same quantities as the PyTorch code of each
rule (``bioplaus.rules.uoro.uoro_step``, ``bioplaus.rules.eprop.eligibility_step`` with
``accumulate``), which stays the reference and the fallback; tests compare the two.
KF-RTRL keeps its batched product in PyTorch (BLAS) and hands the rest of its step to
:func:`kf_rtrl_finish`.

The library is compiled on first use with the system C compiler (``$CC``, else ``cc``,
``gcc``; ``-O3 -march=native -fopenmp``, well under a second) into
``$BIOPLAUS_CACHE/kernels`` (default ``~/.cache/bioplaus/kernels``), named by a hash of
the source, the flags and the processor, so a cache shared between machines never
loads a library built for another processor. Without a compiler, or with
``BIOPLAUS_KERNELS=torch``, every rule runs its PyTorch steps (a warning says why in the
first case). The library is compiled and linked in two steps so that ``-ffast-math`` does
not switch the process to flushing subnormal numbers to zero.
Results are reproducible bit for bit for a given thread count: each thread owns the same
rows of the state in every step.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ["-O3", "-march=native", "-ffast-math", "-fno-finite-math-only", "-fopenmp", "-fPIC"]
# Compiled and linked in two commands: linking a shared library with -ffast-math adds (GCC < 13)
# crtfastmath.o, which switches the whole process to flush subnormals to zero when it loads.
LINK = ["-shared", "-fopenmp"]
_LIB: ctypes.CDLL | None = None
_TRIED = False


def _processor() -> str:
    """What ``-march=native`` depends on: the processor's model and flags (Linux), else the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() + platform.machine()


def cache_dir() -> Path:
    root = os.environ.get("BIOPLAUS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "bioplaus") / "kernels"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    return None


def _build() -> ctypes.CDLL | None:
    if os.environ.get("BIOPLAUS_KERNELS", "").lower() == "torch":
        return None
    cc = _compiler()
    if cc is None:
        warnings.warn("bioplaus: no C compiler found ($CC, cc, gcc): UORO, e-prop, RFLO and KF-RTRL run their slower PyTorch steps.",
                      stacklevel=3)
        return None
    source = SOURCE.read_text()
    key = hashlib.sha256("\n".join([source, cc, *FLAGS, *LINK, _processor()]).encode()).hexdigest()[:16]
    target = cache_dir() / f"kernels-{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        obj = tmp[:-3] + ".o"
        try:
            for command in ([cc, *FLAGS, "-c", "-o", obj, str(SOURCE)], [cc, *LINK, "-o", tmp, obj, "-lm"]):
                out = subprocess.run(command, capture_output=True, text=True)
                if out.returncode != 0:
                    warnings.warn(f"bioplaus: building {SOURCE.name} with {cc} failed ({out.stderr.strip()[-300:]}); "
                                  "UORO, e-prop, RFLO and KF-RTRL run their slower PyTorch steps.", stacklevel=3)
                    return None
            os.replace(tmp, target)  # atomic: concurrent workers never load a half-written library
        finally:
            for path in (tmp, obj):
                if os.path.exists(path):
                    os.remove(path)
    lib = ctypes.CDLL(str(target))
    for name, real in (("_f32", ctypes.c_float), ("_f64", ctypes.c_double)):
        p, i = ctypes.c_void_p, ctypes.c_int
        getattr(lib, "trace_sequence" + name).argtypes = [p, p, real, p, p, p, p, i, i, i, i, i, i]
        getattr(lib, "uoro_sequence" + name).argtypes = [p, p, p, p, p, p, p, p, p, real, real, p, i, i, i, i, i, i]
        long = ctypes.c_long
        getattr(lib, "kf_rtrl_finish" + name).argtypes = [p, p, p, long, p, long, p, p, p, long, real, p, i, i, i, i]
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or ``None`` when they cannot be used here (built once per process)."""
    global _LIB, _TRIED
    if not _TRIED:
        _TRIED = True
        try:
            _LIB = _build()
        except (OSError, RuntimeError) as e:  # an unwritable cache folder, no home folder, a library the loader refuses, ...
            warnings.warn(f"bioplaus: the compiled kernels are unavailable ({e}); UORO, e-prop, RFLO and KF-RTRL run "
                          "their slower PyTorch steps.", stacklevel=2)
            _LIB = None
    return _LIB


def _usable(*tensors: Tensor) -> str | None:
    """The suffix of the kernels for these tensors, or ``None`` (then the caller runs PyTorch)."""
    dtype = tensors[0].dtype
    if dtype not in (torch.float32, torch.float64) or library() is None:
        return None
    if any(t.device.type != "cpu" or t.dtype != dtype or not t.is_contiguous() or t.requires_grad for t in tensors):
        return None
    return "_f32" if dtype == torch.float32 else "_f64"


def _ptr(t: Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(None if t is None else t.data_ptr())


def trace_sequence(trace: Tensor, decay: Tensor | None, leak: float, slope: Tensor, z: Tensor, signal: Tensor,
                   grad: Tensor) -> bool:
    """e-prop / RFLO over a whole sequence: ``E_t = decay_t (*) E_{t-1} + slope_t (x) z_t`` (``decay``
    ``(B, T, n)``, or ``None`` for the scalar ``leak``), ``grad += L_t (*) E_t`` with the learning
    signal ``signal`` ``(B, T, n)``; ``grad`` ``(B, n, P)`` per sequence or ``(1, n, P)`` summed.
    ``trace`` ``(B, n, P)`` and ``grad`` are updated in place. False (nothing done) when the
    kernels cannot run these tensors."""
    parts = [trace, slope, z, signal, grad] + ([decay] if decay is not None else [])
    suffix = _usable(*parts)
    if suffix is None:
        return False
    batch, n, p = trace.shape
    steps = slope.shape[1]
    getattr(library(), "trace_sequence" + suffix)(
        _ptr(trace), _ptr(decay), leak, _ptr(slope), _ptr(z), _ptr(signal), _ptr(grad),
        batch, steps, n, p, int(grad.shape[0] == 1 and batch > 1), torch.get_num_threads())
    return True


def uoro_sequence(h_tilde: Tensor, theta: Tensor, scale: Tensor, kick: Tensor, push: Tensor, slope: Tensor, z: Tensor,
                  credit: Tensor, w_rec_t: Tensor, alpha: float, eps: float, grad: Tensor) -> bool:
    """UORO over a whole sequence, as ``uoro_step`` then ``accumulate`` at every step
    (``kick``, ``push``: ``(T, B, n)`` from ``uoro_constants``; ``slope``, ``credit``:
    ``(B, T, n)``; ``z``: ``(B, T, P)``). ``h_tilde``, ``theta``, ``scale`` and ``grad`` are
    updated in place. False (nothing done) when the kernels cannot run these tensors."""
    suffix = _usable(h_tilde, theta, scale, kick, push, slope, z, credit, w_rec_t, grad)
    if suffix is None:
        return False
    batch, n, p = theta.shape
    steps = slope.shape[1]
    getattr(library(), "uoro_sequence" + suffix)(
        _ptr(h_tilde), _ptr(theta), _ptr(scale), _ptr(kick), _ptr(push), _ptr(slope), _ptr(z), _ptr(credit), _ptr(w_rec_t),
        alpha, eps, _ptr(grad), batch, steps, n, p, int(grad.shape[0] == 1 and batch > 1), torch.get_num_threads())
    return True


def kf_rtrl_finish(a: Tensor, u: Tensor, slope: Tensor, z: Tensor, c1: Tensor, c2: Tensor, credit: Tensor, eps: float,
                   credit_a: Tensor) -> bool:
    """The rest of a KF-RTRL step after ``a = D_t A_{t-1}`` (``(B, n, n)``, turned into ``A_t`` in place):
    ``u`` ``(B, P)`` becomes ``c1 p1 u + c2 p2 z_t``, ``A_t = (c1/p1) D A + diag((c2/p2) slope_t)``
    (as ``bioplaus.rules.kf_rtrl.kf_rtrl_step``) and ``credit_a`` ``(B, n)`` receives ``c_t A_t``.
    ``slope``, ``credit`` ``(B, n)`` and ``z`` ``(B, P)`` may be row-strided views (one step of a
    trajectory). False (nothing done) when the kernels cannot run these tensors."""
    suffix = _usable(a, u, c1, c2, credit_a)
    if suffix is None or any(t.dtype != a.dtype or t.device.type != "cpu" or t.stride(1) != 1 for t in (slope, z, credit)):
        return False
    batch, n, _ = a.shape
    getattr(library(), "kf_rtrl_finish" + suffix)(
        _ptr(a), _ptr(u), _ptr(slope), slope.stride(0), _ptr(z), z.stride(0), _ptr(c1), _ptr(c2), _ptr(credit),
        credit.stride(0), eps, _ptr(credit_a), batch, n, u.shape[1], torch.get_num_threads())
    return True
