"""An optional compiled (C++, CPU) forward and backward loop for the common LIF case of :class:`~bioplaus.snn.lif.FusedSurrogateBPTT`.

Opt-in with ``kernel = "cpp"`` in a ``spiking_torch`` model spec (default ``"torch"``); it covers what
:func:`bioplaus.snn.lif._plain_lif` covers (LIF, reset by subtraction detached, no refractoriness), both synapse kinds,
float32 and float64, CPU tensors. The equations, the saved tensors (spikes ``(batch, T, n)``, distances ``v^ - theta``
``(T, batch, n)``) and the weight gradients (``FusedSurrogateBPTT._gradients``) are the torch path's; what differs:

- forwards, the recurrent input is summed only over the neurons that spiked (``target[b, :] += W_rec^T[j, :]`` for each
  spike ``(b, j)``; about 1 % of entries per step in ``bioplaus bench snn``) instead of a dense ``(batch, n) x (n, n)``
  product, and the elementwise operations of a step are one pass over each sample's row; the spikes' coordinates are
  listed as they happen and handed to ``_gradients`` for the sparse ``dL/dW_rec`` (instead of ``to_sparse``);
- backwards, the elementwise adjoint and the surrogate derivative ``psi`` are one pass per step after the one dense
  product ``g_D_t W_rec`` (``at::mm_out``, the same BLAS as torch), and ``dL/d drive`` is written batch-major directly.

The sums run in another order than the dense product's, so spikes and gradients can differ from the torch path in the
last bits (``tests/test_snn_kernel.py``: in float64 the same spikes and gradients to 1e-10); a run's stored numbers
with ``kernel = "cpp"`` are therefore not bit-identical with ``kernel = "torch"``, and the run config says which ran.

Compiled before any run starts (the ``spiking_torch`` kind's ``prepare``, called by
:func:`bioplaus.execute.run_protocol`), once per machine, by ``torch.utils.cpp_extension.load_inline`` into torch's extension cache
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``; 30 s to a minute of CPU the first time), under an exclusive
``fcntl`` lock so that worker processes starting together compile it once (the lock dies with its holder, unlike a
lock file left behind). The module name carries a hash of the source, so an edited kernel is rebuilt, never stale.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from types import ModuleType

from bioplaus.errors import BioplausError

SURROGATE_CODES = {"fast_sigmoid": 0, "sigmoid": 1, "triangle": 2}

SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <vector>

template <typename scalar_t>
static inline scalar_t surrogate(scalar_t x, int64_t kind, scalar_t slope, scalar_t scale) {
  // psi(x) of bioplaus.snn.lif.surrogate_derivative, in the torch path's order of operations
  if (kind == 0) {
    scalar_t q = std::abs(x) * slope + scalar_t(1);
    return scalar_t(1) / (q * q) * scale;
  }
  if (kind == 1) {
    scalar_t s = scalar_t(1) / (scalar_t(1) + std::exp(-slope * x));
    return scale * slope * s * (scalar_t(1) - s);
  }
  scalar_t r = scalar_t(1) - slope * std::abs(x);
  return scale * slope * (r > scalar_t(0) ? r : scalar_t(0));
}

// drive (B, T, n) contiguous; w_rec_t (n, n) = W_rec^T contiguous, or an empty tensor for no recurrence.
// Returns spikes (B, T, n), distances v^ - theta (T, B, n) and, with recurrence, the spikes' coordinates in the
// (B T, n) matrix of spikes, (2, number of spikes) in row-major order (what to_sparse gives), else an empty tensor.
std::vector<at::Tensor> lif_forward(at::Tensor drive, at::Tensor w_rec_t, double alpha_mem, double alpha_syn,
                                    double coupling, double threshold, bool delta) {
  const int64_t B = drive.size(0), T = drive.size(1), n = drive.size(2);
  auto z_all = at::empty({B, T, n}, drive.options());
  auto dist_all = at::empty({T, B, n}, drive.options());
  const bool recurrent = w_rec_t.numel() > 0;
  std::vector<std::vector<int64_t>> fired(B);  // per sample: (b T + t) n + j of each spike, in order
  AT_DISPATCH_FLOATING_TYPES(drive.scalar_type(), "lif_forward", [&] {
    const scalar_t am = alpha_mem, as = alpha_syn, cpl = coupling, th = threshold;
    const scalar_t* d = drive.data_ptr<scalar_t>();
    const scalar_t* w = recurrent ? w_rec_t.data_ptr<scalar_t>() : nullptr;
    scalar_t* z = z_all.data_ptr<scalar_t>();
    scalar_t* dist = dist_all.data_ptr<scalar_t>();
    // each sample is independent: its own state row, its own spikes
    at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
      std::vector<scalar_t> v_row(n), cur_row(n);
      for (int64_t b = b0; b < b1; ++b) {
        scalar_t* __restrict__ v = v_row.data();
        scalar_t* __restrict__ cur = cur_row.data();
        std::fill(v, v + n, scalar_t(0));
        std::fill(cur, cur + n, scalar_t(0));
        for (int64_t t = 0; t < T; ++t) {
          const scalar_t* __restrict__ dt = d + (b * T + t) * n;
          scalar_t* __restrict__ zt = z + (b * T + t) * n;
          scalar_t* __restrict__ xt = dist + (t * B + b) * n;
          // one elementwise pass, then the recurrent input of the neurons that spiked
          if (delta) {
            for (int64_t j = 0; j < n; ++j) {
              scalar_t vh = v[j] * am;
              scalar_t x = vh - th;
              scalar_t s = x > scalar_t(0) ? scalar_t(1) : scalar_t(0);
              xt[j] = x;
              zt[j] = s;
              v[j] = vh + dt[j] - s * th;
            }
          } else {
            for (int64_t j = 0; j < n; ++j) {
              scalar_t vh = v[j] * am + cur[j] * cpl;
              scalar_t x = vh - th;
              scalar_t s = x > scalar_t(0) ? scalar_t(1) : scalar_t(0);
              xt[j] = x;
              zt[j] = s;
              v[j] = vh - s * th;
              cur[j] = cur[j] * as + dt[j];
            }
          }
          if (recurrent) {
            scalar_t* __restrict__ target = delta ? v : cur;
            for (int64_t j = 0; j < n; ++j) {
              if (zt[j] == scalar_t(0)) continue;
              fired[b].push_back((b * T + t) * n + j);
              const scalar_t* __restrict__ row = w + j * n;
              for (int64_t i = 0; i < n; ++i) target[i] += row[i];
            }
          }
        }
      }
    });
  });
  int64_t count = 0;
  for (const auto& f : fired) count += f.size();
  auto index = at::empty({recurrent ? 2 : 0, recurrent ? count : 0}, drive.options().dtype(at::kLong));
  if (recurrent) {
    int64_t* rows = index.data_ptr<int64_t>();
    int64_t* cols = rows + count;
    for (const auto& f : fired)
      for (int64_t flat : f) {
        *rows++ = flat / n;
        *cols++ = flat % n;
      }
  }
  return {z_all, dist_all, index};
}

// grad_z (B, T, n) contiguous, dist_all (T, B, n), w_rec (n, n) or empty. Returns dL/d drive (B, T, n).
at::Tensor lif_backward(at::Tensor grad_z, at::Tensor dist_all, at::Tensor w_rec, double alpha_mem, double alpha_syn,
                        double coupling, bool delta, int64_t kind, double slope, double scale) {
  const int64_t T = dist_all.size(0), B = dist_all.size(1), n = dist_all.size(2);
  auto g_drive = at::empty({B, T, n}, grad_z.options());
  if (T == 0 || B == 0) return g_drive;
  const bool recurrent = w_rec.numel() > 0;
  auto rec = at::zeros({B, n}, grad_z.options());   // g_D_t W_rec
  auto g_v = at::zeros({B, n}, grad_z.options());   // dL/dv after step t
  AT_DISPATCH_FLOATING_TYPES(grad_z.scalar_type(), "lif_backward", [&] {
    const scalar_t am = alpha_mem, as = alpha_syn, cpl = coupling, sl = slope, sc = scale;
    const scalar_t* gz = grad_z.data_ptr<scalar_t>();
    const scalar_t* dist = dist_all.data_ptr<scalar_t>();
    scalar_t* gd = g_drive.data_ptr<scalar_t>();
    scalar_t* r = rec.data_ptr<scalar_t>();
    scalar_t* gv = g_v.data_ptr<scalar_t>();
    for (int64_t b = 0; b < B; ++b)  // g_D at the last step: nothing after it
      std::fill(gd + (b * T + T - 1) * n, gd + (b * T + T) * n, scalar_t(0));
    for (int64_t t = T - 1; t >= 0; --t) {
      if (recurrent) at::mm_out(rec, g_drive.select(1, t), w_rec);
      at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const scalar_t* gzt = gz + (b * T + t) * n;
          const scalar_t* xt = dist + (t * B + b) * n;
          const scalar_t* rt = r + b * n;
          scalar_t* gdt = gd + (b * T + t) * n;
          scalar_t* gdp = gd + (b * T + t - 1) * n;  // written only when t > 0
          scalar_t* gvb = gv + b * n;
          for (int64_t j = 0; j < n; ++j) {
            scalar_t g = gzt[j];
            if (recurrent) g += rt[j];
            g *= surrogate<scalar_t>(xt[j], kind, sl, sc);  // g_dist
            if (delta) {  // g_D_t = g_v; g_v^ = g_v + g_dist
              if (t) gdp[j] = (gdt[j] + g) * am;
            } else {      // g_v^ = g_v + g_dist; g_I_(t-1) = alpha_syn g_I_t + c g_v^; g_v = alpha g_v^
              scalar_t vh = gvb[j] + g;
              if (t) gdp[j] = gdt[j] * as + vh * cpl;
              gvb[j] = vh * am;
            }
          }
        }
      });
    }
  });
  return g_drive;
}
"""

_FUNCTIONS = ["lif_forward", "lif_backward"]
_FLAGS = ["-O3"]  # no -ffast-math: it would change the arithmetic
_module: ModuleType | None = None


def compiled(source: str = "a model spec") -> ModuleType:
    """The compiled module (built on first use, once per machine; see the module docstring).

    Raises :class:`BioplausError` naming ``source`` (e.g. ``"model 'snn_yinyang'"``), the field ``kernel`` and the
    fallback when it cannot be built.
    """
    global _module
    if _module is not None:
        return _module
    name = "bioplaus_lif_" + hashlib.sha256((SOURCE + " ".join(_FLAGS)).encode()).hexdigest()[:12]
    try:
        from torch.utils import cpp_extension

        if cpp_extension.get_cxx_compiler() is None:
            raise RuntimeError("no C++ compiler found")
        where = getattr(cpp_extension, "_get_build_directory", None)  # torch's cache folder (a private helper)
        folder = Path(where(name, verbose=False)).parent if where else Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{name}.flock", "w") as lock:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)  # one process compiles; the others wait, then load the cached build
            try:
                _module = cpp_extension.load_inline(name=name, cpp_sources=SOURCE, functions=_FUNCTIONS,
                                                    extra_cflags=_FLAGS, verbose=bool(os.environ.get("BIOPLAUS_KERNEL_VERBOSE")))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    except Exception as exc:  # a compiler, headers or ninja missing or failing: one paragraph, not a build log
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        first = first.split(": [", 1)[0]  # torch's "Error building extension 'x': [1/2] c++ ..." without the command line
        raise BioplausError(
            f"{source}: field 'kernel' is 'cpp', but the compiled LIF kernel could not be built ({type(exc).__name__}: "
            f"{first[:200]}). It needs a C++ compiler (g++), ninja and torch's headers; set BIOPLAUS_KERNEL_VERBOSE=1 to "
            "see the build log, or set kernel = 'torch' (the default: the same network in plain torch).") from exc
    return _module


def available() -> bool:
    """Whether the kernel can be built here (compiles it if not yet cached)."""
    try:
        compiled()
    except BioplausError:
        return False
    return True
