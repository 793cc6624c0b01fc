"""Neuron models as Brian2 equation strings with units, and their published default parameters.

Each :class:`NeuronModel` is one readable block of equations plus the threshold, reset
and refractoriness. Parameters carry their unit in their name (``tau_m_ms``,
``v_rest_mV``); :func:`namespace` turns them into Brian2 quantities named without the
suffix (``tau_m``, ``v_rest``) for the equations to use.

- ``lif_conductance``: leaky integrate-and-fire with excitatory and inhibitory
  conductances in units of the leak conductance (Song, Miller & Abbott 2000, Methods):
  ``tau_m dv/dt = v_rest - v + g_ex (e_ex - v) + g_in (e_in - v)``.
- ``lif_current``: leaky integrate-and-fire with an exponential synaptic current,
  written as a voltage ``tau_m dv/dt = v_rest - v + v_syn``, ``tau_syn dv_syn/dt = -v_syn``.
- ``izhikevich``: ``dv/dt = 0.04 v^2 + 5 v + 140 - u + I``, ``du/dt = a (b v - u)``
  (v, u, I in mV, t in ms), reset ``v = c, u += d`` at ``v >= 30 mV`` (Izhikevich 2003,
  IEEE Trans. Neural Netw. 14:1569, Eq. 1-3). Regular spiking: a=0.02, b=0.2, c=-65, d=8;
  fast spiking: a=0.1, b=0.2, c=-65, d=2.
- ``escape_noise_lif``: a LIF neuron without a hard threshold; it fires in each time step
  with probability ``1 - exp(-rho(v) dt)``, ``rho(v) = rho_0 exp((v - v_th) / delta_v)``
  (escape noise, Gerstner & Kistler 2002, Sec. 5.3), so the likelihood of a spike train
  is known and the gradient of expected reward is a likelihood-ratio gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: unit suffixes allowed in parameter names, and the Brian2 unit each stands for
UNIT_SUFFIXES = ("ms", "s", "mV", "Hz", "nS", "pA", "pF", "Mohm")


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model: equations, threshold, reset, refractory period and default parameters.

    ``parameters`` maps ``name_unit`` (e.g. ``tau_m_ms``) to its default; names without a
    unit suffix are dimensionless.
    """

    name: str
    equations: str
    threshold: str
    reset: str
    parameters: dict[str, float] = field(default_factory=dict)
    refractory: str | None = None
    method: str = "euler"
    citation: str = ""


LIF_CONDUCTANCE = NeuronModel(
    name="lif_conductance",
    equations="""
        dv/dt = (v_rest - v + g_ex * (e_ex - v) + g_in * (e_in - v)) / tau_m : volt
        dg_ex/dt = -g_ex / tau_ex : 1
        dg_in/dt = -g_in / tau_in : 1
    """,
    threshold="v > v_th",
    reset="v = v_reset",
    # Song, Miller & Abbott 2000, Nat. Neurosci. 3:919, Methods.
    parameters={"tau_m_ms": 20.0, "v_rest_mV": -70.0, "v_th_mV": -54.0, "v_reset_mV": -60.0,
                "e_ex_mV": 0.0, "e_in_mV": -70.0, "tau_ex_ms": 5.0, "tau_in_ms": 5.0},
    citation="Song, Miller & Abbott 2000",
)

LIF_CURRENT = NeuronModel(
    name="lif_current",
    equations="""
        dv/dt = (v_rest - v + v_syn) / tau_m : volt (unless refractory)
        dv_syn/dt = -v_syn / tau_syn : volt
    """,
    threshold="v > v_th",
    reset="v = v_reset",
    refractory="t_ref",
    parameters={"tau_m_ms": 20.0, "v_rest_mV": -70.0, "v_th_mV": -54.0, "v_reset_mV": -60.0,
                "tau_syn_ms": 5.0, "t_ref_ms": 2.0},
    citation="Gerstner, Kistler, Naud & Paninski 2014, Ch. 1",
)

IZHIKEVICH = NeuronModel(
    name="izhikevich",
    equations="""
        dv/dt = (0.04 * v**2 / mV + 5 * v + 140 * mV - u + i_input) / ms : volt
        du/dt = a * (b * v - u) / ms : volt
        i_input : volt
    """,
    threshold="v >= v_peak",
    reset="v = c\nu += d",
    # Izhikevich 2003, regular spiking (RS) cell; v_peak = 30 mV.
    parameters={"a": 0.02, "b": 0.2, "c_mV": -65.0, "d_mV": 8.0, "v_peak_mV": 30.0},
    citation="Izhikevich 2003",
)

#: fast-spiking (FS) interneuron parameters of Izhikevich 2003, Fig. 2.
IZHIKEVICH_FAST_SPIKING = {"a": 0.1, "b": 0.2, "c_mV": -65.0, "d_mV": 2.0, "v_peak_mV": 30.0}

ESCAPE_NOISE_LIF = NeuronModel(
    name="escape_noise_lif",
    equations="""
        dv/dt = (v_rest - v + v_syn) / tau_m : volt
        dv_syn/dt = -v_syn / tau_syn : volt
        rho = rho_0 * exp((v - v_th) / delta_v) : Hz
    """,
    threshold="rand() < 1 - exp(-rho * dt)",
    reset="v = v_reset",
    # Escape-rate parameters: our choice (about 1 Hz at rest + 10 mV), no published set is implied.
    parameters={"tau_m_ms": 10.0, "v_rest_mV": -70.0, "v_th_mV": -55.0, "v_reset_mV": -70.0,
                "tau_syn_ms": 5.0, "rho_0_Hz": 20.0, "delta_v_mV": 3.0},
    citation="Gerstner & Kistler 2002, Sec. 5.3",
)

MODELS: dict[str, NeuronModel] = {m.name: m for m in (LIF_CONDUCTANCE, LIF_CURRENT, IZHIKEVICH, ESCAPE_NOISE_LIF)}


def split_unit(name: str) -> tuple[str, str | None]:
    """``"tau_m_ms"`` -> ``("tau_m", "ms")``; ``"a"`` -> ``("a", None)``."""
    head, _, tail = name.rpartition("_")
    if head and tail in UNIT_SUFFIXES:
        return head, tail
    return name, None


def namespace(parameters: dict[str, float]) -> dict[str, Any]:
    """Brian2 quantities for ``parameters`` (``{"tau_m_ms": 20}`` -> ``{"tau_m": 20*ms}``)."""
    import brian2

    out: dict[str, Any] = {}
    for key, value in parameters.items():
        name, unit = split_unit(key)
        out[name] = float(value) * getattr(brian2, unit) if unit else float(value)
    return out


def neuron_group(model: NeuronModel, n: int, parameters: dict[str, float] | None = None, *, name: str,
                 extra_equations: str = "", dt: Any = None):
    """A Brian2 ``NeuronGroup`` named ``name`` of ``n`` neurons of ``model`` with ``parameters`` overriding its defaults.

    ``extra_equations`` adds lines (e.g. a linked dopamine variable) to the model's equations.
    """
    import brian2

    params = {**model.parameters, **(parameters or {})}
    ns = namespace(params)
    kwargs: dict[str, Any] = {"name": name}
    if dt is not None:
        kwargs["dt"] = dt
    if model.refractory:
        kwargs["refractory"] = model.refractory
    group = brian2.NeuronGroup(n, model.equations + "\n" + extra_equations, threshold=model.threshold, reset=model.reset,
                               method=model.method, namespace=ns, **kwargs)
    if "v_rest" in ns:
        group.v = ns["v_rest"]
    elif model is IZHIKEVICH:
        group.v = ns["c"]
        group.u = ns["b"] * ns["c"]
    return group
