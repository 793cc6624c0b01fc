"""Thread counts of every numeric library a run uses, pinned from the run's config.

A float reduction split over k threads adds its terms in another order than over one
thread, so the last bits of a result depend on the thread count: torch's intra-op pool,
and the BLAS (OpenBLAS, MKL) and OpenMP pools behind NumPy and SciPy (``norm_ratio`` is a
NumPy float64 norm, for instance). Their defaults come from the environment
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, the number of cores), which differs
between a sweep's own process, its pool workers and the workers of a Ray cluster (Ray
sets ``OMP_NUM_THREADS`` to a task's CPUs). :func:`pinned_threads` sets them all to the
protocol's ``threads`` for the length of a job, so a job's numbers depend on its config
only, not on the process that runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bioplaus.errors import BioplausError


def load_numeric_libraries() -> None:
    """Import the libraries whose thread pools a job may use, so that their pools are loaded.

    ``threadpoolctl`` limits only the pools of shared libraries loaded when it is called;
    SciPy's own OpenBLAS is loaded with ``scipy.linalg``, which a run may import later.
    """
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import torch  # noqa: F401


@contextmanager
def pinned_threads(n: int) -> Iterator[None]:
    """Run the body with ``n`` threads in torch's intra-op pool and in every BLAS and OpenMP pool.

    Args:
        n: threads per pool (a protocol's ``threads``, default 1); a positive integer.

    The previous counts are restored on exit. Pools of libraries first loaded inside the
    body are not limited; :func:`load_numeric_libraries` loads those bioplaus uses first.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise BioplausError(f"protocol field 'threads' must be a positive integer, got {n!r}.")
    load_numeric_libraries()
    import torch
    from threadpoolctl import threadpool_limits

    torch_before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(torch_before)
