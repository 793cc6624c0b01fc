"""Random-feedback local online learning, RFLO (Murray 2019, eLife 8:e43299, eqs. 9-11).

As e-prop (:mod:`bioplaus.rules.eprop`) but the trace keeps only the leak,
``P_t[i, j] = (1 - alpha) P_{t-1}[i, j] + alpha phi'(a_t,i) z_t,j``, and the learning signal
comes by default through a fixed random matrix ``B`` instead of ``W_out^T``.
With ``alpha = 1`` the trace has no memory, ``P_t = phi'(a_t) z_t^T``, and its update is a
write (one rank-one product with ``beta = 0``).
"""

from __future__ import annotations

from bioplaus.rules.eprop import EProp


class RFLO(EProp):
    """Leak-only eligibility traces times a random (default) or symmetric learning signal."""

    name = "rflo"
    title = "RFLO"
    colour = "#bcbd22"
    default_feedback = "random"
    own_recurrence = False
