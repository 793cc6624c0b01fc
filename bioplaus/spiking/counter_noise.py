"""Counter-based uniform random numbers for Brian2 code: ``uniform_hash(i, t_in_timesteps, key)``.

Brian2's ``rand()`` draws from a sequential generator: one call per neuron and step,
which in C++ costs a function call into the Mersenne twister and keeps the compiler from
vectorising the loop it sits in (the Izhikevich network's per-step update spends most of
its time there). ``uniform_hash`` instead computes the number from its coordinates: with
``x = step * 2**32 + i`` (distinct for every neuron index ``i < 2**32`` and step) it returns
``mix(mix(x) XOR mix(key)) >> 11`` scaled to ``[0, 1)``, where ``mix`` is the SplitMix64
finaliser (Steele, Lea & Flood 2014), a bijection on 64-bit integers. A number
depends only on ``(i, step, key)``: the same on every target (numpy, cython,
cpp_standalone: tested bit for bit), independent of the order of evaluation, and
different keys give unrelated streams (the key is mixed into the hashed coordinate, not
added to it, so two keys' streams are not shifted copies of each other). 53 random
bits per number, like ``rand()``.

The ``key`` is a run's seed (:func:`noise_key`), kept in a group variable so that a
cpp_standalone program can be rerun for another seed without recompiling.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB

_CPP = f"""
static inline uint64_t _bioplaus_mix(uint64_t z) {{
    z = (z ^ (z >> 30)) * {_M1}ULL;
    z = (z ^ (z >> 27)) * {_M2}ULL;
    return z ^ (z >> 31);
}}
static inline double _bioplaus_uniform_hash(const int64_t i, const int64_t step, const int64_t key) {{
    const uint64_t x = ((uint64_t)step << 32) + (uint64_t)i;
    const uint64_t z = _bioplaus_mix(_bioplaus_mix(x + {_GOLDEN}ULL) ^ _bioplaus_mix((uint64_t)key + {_GOLDEN}ULL));
    return (double)(int64_t)(z >> 11) * (1.0 / 9007199254740992.0);
}}
"""

_CYTHON = f"""
cdef inline unsigned long long _bioplaus_mix(unsigned long long z) noexcept nogil:
    z = (z ^ (z >> 30)) * <unsigned long long>{_M1}ULL
    z = (z ^ (z >> 27)) * <unsigned long long>{_M2}ULL
    return z ^ (z >> 31)

cdef inline double _bioplaus_uniform_hash(long long i, long long step, long long key) noexcept nogil:
    cdef unsigned long long x = ((<unsigned long long>step) << 32) + <unsigned long long>i
    cdef unsigned long long z = _bioplaus_mix(_bioplaus_mix(x + <unsigned long long>{_GOLDEN}ULL)
                                              ^ _bioplaus_mix(<unsigned long long>key + <unsigned long long>{_GOLDEN}ULL))
    return <double>(<long long>(z >> 11)) * (1.0 / 9007199254740992.0)
"""


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def uniform(i, step, key) -> np.ndarray:
    """The numbers ``uniform_hash`` gives in generated code, computed with numpy (any shapes that broadcast)."""
    i = np.atleast_1d(np.asarray(i)).astype(np.int64).astype(np.uint64)
    step = np.atleast_1d(np.asarray(step)).astype(np.int64).astype(np.uint64)
    key = np.atleast_1d(np.asarray(key)).astype(np.int64).astype(np.uint64)
    x = (step << np.uint64(32)) + i
    z = _mix(_mix(x + np.uint64(_GOLDEN)) ^ _mix(key + np.uint64(_GOLDEN)))
    return (z >> np.uint64(11)).astype(np.int64).astype(np.float64) * (1.0 / 9007199254740992.0)


def function():
    """The Brian2 ``Function`` ``uniform_hash(i, step, key)`` (put it in a group's namespace)."""
    import brian2

    def _numpy(i, step, key):
        return uniform(i, step, key)

    f = brian2.Function(_numpy, arg_units=[1, 1, 1], return_unit=1, arg_types=["integer", "integer", "integer"],
                        return_type="float", stateless=True)
    # without units: Brian2's unit-checking wrapper formats the whole result array into a message on every call
    f.implementations.add_numpy_implementation(_numpy, discard_units=True)
    f.implementations.add_implementation("cpp", _CPP, name="_bioplaus_uniform_hash")
    f.implementations.add_implementation("cython", _CYTHON, name="_bioplaus_uniform_hash")
    return f


def noise_key(rng: np.random.Generator) -> int:
    """A run's key, drawn from its generator (a non-negative 31-bit integer: Brian2's ``integer`` is 32-bit)."""
    return int(rng.integers(0, 2**31))
