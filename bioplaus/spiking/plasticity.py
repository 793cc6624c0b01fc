"""Plasticity rules for spiking networks, as Brian2 synapse equations with units.

A rule is a :class:`SpikingRule`: its :meth:`~SpikingRule.synapse` returns the synapse
model, ``on_pre`` and ``on_post`` statements and the constants they use, ready for
``brian2.Synapses``. ``transmit`` is the statement that delivers a presynaptic spike
(e.g. ``g_ex_post += w``), so the same rule drives any neuron model. Rules are
conditions of a protocol (they subclass :class:`bioplaus.rules.Rule`), but they have no
rate ``estimate``: their "estimate" is the weight change read back from the synapses.

- :class:`STDP`: pair-based STDP with a presynaptic trace ``apre`` and a postsynaptic
  trace ``apost`` (event-driven, so integrated exactly). One pre spike at ``t_pre`` and
  one post spike at ``t_post = t_pre + dt`` change the weight by
  ``A+ w_max exp(-dt/tau+)`` for ``dt > 0`` and ``-A- w_max exp(dt/tau-)`` for ``dt < 0``
  (additive, Song, Miller & Abbott 2000, Eq. 1), within ``[0, w_max]``. The multiplicative
  (soft-bound) variant scales potentiation by ``(w_max - w)/w_max`` and depression by
  ``w/w_max`` (van Rossum, Bi & Turrigiano 2000; Rubin, Lee & Sompolinsky 2001), which
  makes the weight distribution unimodal.
- :class:`DopamineSTDP`: STDP events feed an eligibility trace ``c`` instead of the
  weight; ``c`` decays with ``tau_c`` and the weight follows ``dw/dt = (b + d) c / tau_w``
  within ``[0, w_max]``, where ``d`` is the dopamine concentration and ``b`` a tonic
  baseline (Izhikevich 2007, Cereb. Cortex 17:2443, Eq. 2-3; ``b = 0.002`` and the
  per-10-ms weight update in the author's published code, ModelDB 84167). Two ways of
  integrating it (``update``):

  ``"clock"``: ``c`` and ``w`` are advanced every ``update_dt_ms`` (10 ms in the author's
  code) for every synapse: ``w <- clip(w + (b + d) c update_dt / tau_w)``, then
  ``c <- c exp(-update_dt / tau_c)``; between updates only the STDP events touch ``c``.
  The synapse reads ``d_post`` (any dopamine variable of the postsynaptic group).

  ``"event"`` (exact, and much cheaper): a synapse is brought up to date only at its own
  pre and post spikes and at dopamine events (rewards, samples of the weights, and a
  renormalisation at least every ``tau_c``), with no exponential per synapse event. Between
  two dopamine events ``t_e`` the eligibility of every synapse decays by the same envelope
  ``g(s) = exp(-(s - t_e)/tau_c)``, so the synapse stores ``c`` divided by it (``c`` holds
  the eligibility right after each dopamine event; between events the eligibility is
  ``c g``), and the postsynaptic group carries the integral
  ``A(s) = int_{t_e}^s (b + d(u)) g(u) du`` (``a_c``), the envelope ``g`` (``g_c``) and
  the dopamine ``d``, advanced once per step in closed form (:meth:`DopamineSTDP.neuron_step`:
  over one step ``d`` decays by ``exp(-dt/tau_d)`` and
  ``A += g [b tau_c (1 - exp(-dt/tau_c)) + d tau_cd (1 - exp(-dt/tau_cd))]`` with
  ``1/tau_cd = 1/tau_c + 1/tau_d``). A synapse last updated when the integral was ``a_w``
  then gains ``Delta w = c (A(t) - a_w) / tau_w``, the exact integral of
  ``(b + d) c g / tau_w``. At a dopamine event a dopamine unit computes ``A`` and ``g``
  since the previous event in closed form (:meth:`DopamineSTDP.dopamine_event`), every
  synapse is brought up to date and renormalised (``c <- c g``, ``a_w <- 0``,
  :meth:`DopamineSTDP.renormalise`), and then the postsynaptic group's ``A``, ``g`` restart
  at 0, 1 and ``d`` jumps (:meth:`DopamineSTDP.restart_neurons`; the unit and its pathways:
  :func:`bioplaus.spiking.dopamine.dopamine_system`); renormalising at least every
  ``tau_c`` keeps ``g >= exp(-1)``, so ``A(t) - a_w`` loses at most about 11 of 53 bits.
  All of these statements are methods of :class:`DopamineSTDP`, with one set of constants
  (:meth:`DopamineSTDP.neuron_namespace`).

  Bounds: the modulator ``b + d`` is non-negative and ``c`` keeps its sign between
  events, so ``w`` moves monotonically between two updates and clipping to
  ``[0, w_max]`` at the updates equals clipping the continuous trajectory: ``"event"``
  is the exact solution of the continuous equations (to rounding). It differs from the author's
  discrete scheme (and from ``"clock"``) by the discretisation error of the latter:
  ``c`` frozen over each ``update_dt`` and dopamine decaying in 1-ms steps, a relative
  difference of order ``update_dt / tau_d`` (5 % at 10 ms) in the weight change of one
  reward; with ``update_dt = 1 ms`` the two agree to a fraction of a percent
  (tests/test_spiking.py checks this on a small network).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from bioplaus.errors import BioplausError, allowed
from bioplaus.rules.base import Rule
from bioplaus.spiking.neurons import namespace

STDP_VARIANTS = ("additive", "multiplicative")


@dataclass(frozen=True)
class SynapseEquations:
    """What ``brian2.Synapses`` needs: ``model``, ``on_pre``, ``on_post``, constants (``namespace``,
    plain floats with the unit in their name, see :func:`bioplaus.spiking.neurons.namespace`) and
    statements to run every ``regular_dt_ms`` (``regular``, empty for none)."""

    model: str
    on_pre: str
    on_post: str
    constants: dict[str, float]
    regular: str = ""
    regular_dt_ms: float = 0.0
    method: str = "exact"
    regular_when: str = "end"


class SpikingRule(Rule):
    """Base class of plasticity rules for spiking networks (Brian2 synapse equations)."""

    name: ClassVar[str] = "spiking_rule"
    requires: ClassVar[frozenset[str]] = frozenset({"spiking:brian2"})

    def synapse(self, transmit: str) -> SynapseEquations:
        raise NotImplementedError

    def estimate(self, model, batch):
        raise BioplausError(f"rule {self.name!r} is a spiking plasticity rule: it runs only on a spiking model "
                            f"(kind = \"spiking\"), where its weight changes are read back from the synapses.")


class STDP(SpikingRule):
    """Pair-based STDP (all-to-all pairing through traces) with hard weight bounds ``[0, w_max]``.

    Args:
        variant: ``"additive"`` (Song et al. 2000) or ``"multiplicative"`` (soft bounds).
        a_plus: potentiation per pair at ``dt -> 0+``, as a fraction of ``w_max``
            (Song et al. 2000: 0.005).
        a_minus_ratio: ``A- / A+`` (Song et al. 2000: 1.05).
        tau_plus_ms, tau_minus_ms: widths of the STDP window (Song et al. 2000: 20 ms each).
        w_max: the upper weight bound (Song et al.: g_max = 0.015 in units of the leak conductance).
    """

    name = "stdp"

    def __init__(self, variant: str = "additive", a_plus: float = 0.005, a_minus_ratio: float = 1.05,
                 tau_plus_ms: float = 20.0, tau_minus_ms: float = 20.0, w_max: float = 0.015, label: str | None = None):
        if variant not in STDP_VARIANTS:
            raise BioplausError(f"rule 'stdp': field 'variant' is {variant!r}; allowed values are {allowed(STDP_VARIANTS)}.")
        for key, value in (("a_plus", a_plus), ("a_minus_ratio", a_minus_ratio), ("tau_plus_ms", tau_plus_ms),
                           ("tau_minus_ms", tau_minus_ms), ("w_max", w_max)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise BioplausError(f"rule 'stdp': field '{key}' must be a positive number, got {value!r}.")
        self.name = f"stdp_{variant}"
        super().__init__(label)
        self.variant, self.a_plus, self.a_minus_ratio = variant, float(a_plus), float(a_minus_ratio)
        self.tau_plus_ms, self.tau_minus_ms, self.w_max = float(tau_plus_ms), float(tau_minus_ms), float(w_max)

    @property
    def a_minus(self) -> float:
        return self.a_plus * self.a_minus_ratio

    def synapse(self, transmit: str) -> SynapseEquations:
        model = """
            w : 1
            dapre/dt = -apre / tau_plus : 1 (event-driven)
            dapost/dt = -apost / tau_minus : 1 (event-driven)
        """
        if self.variant == "additive":
            depress, potentiate = "w = clip(w - w_max * apost, 0, w_max)", "w = clip(w + w_max * apre, 0, w_max)"
        else:
            depress, potentiate = "w = clip(w - w * apost, 0, w_max)", "w = clip(w + (w_max - w) * apre, 0, w_max)"
        on_pre = f"{transmit}\napre += a_plus\n{depress}"
        on_post = f"apost += a_minus\n{potentiate}"
        constants = {"a_plus": self.a_plus, "a_minus": self.a_minus, "tau_plus_ms": self.tau_plus_ms,
                     "tau_minus_ms": self.tau_minus_ms, "w_max": self.w_max}
        return SynapseEquations(model, on_pre, on_post, constants)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "variant": self.variant, "a_plus": self.a_plus, "a_minus_ratio": self.a_minus_ratio,
                "tau_plus_ms": self.tau_plus_ms, "tau_minus_ms": self.tau_minus_ms, "w_max": self.w_max}


UPDATES = ("event", "clock")
TRACES = ("synapse", "neuron")


class DopamineSTDP(SpikingRule):
    """Dopamine-modulated STDP with an eligibility trace (Izhikevich 2007).

    Args (defaults from the author's published code, ModelDB 84167, weights in mV):
        a_plus: eligibility increment of a pre->post pair at ``dt -> 0+`` (0.1).
        a_minus: eligibility decrement of a post->pre pair at ``dt -> 0-`` (0.15).
        tau_plus_ms, tau_minus_ms: STDP window widths (20 ms; the code decays by 0.95 per ms).
        tau_c_ms: eligibility time constant (1000 ms; the code decays by 0.99 per 10 ms).
        tau_w_ms: time scale of ``dw/dt = (b + d) c / tau_w`` (10 ms: one update of
            ``(b + d) c`` per 10 ms in the author's code).
        baseline: tonic modulator ``b`` (0.002).
        w_max: upper weight bound (4 mV).
        update: ``"event"`` (exact, between events; the default) or ``"clock"``
            (every ``update_dt_ms``), see the module docstring.
        update_dt_ms: how often ``c`` and ``w`` are advanced with ``update="clock"``
            (10 ms as in the author's code).
        traces: ``"synapse"`` (each synapse holds event-driven STDP traces ``apre``,
            ``apost``; works with any source and target) or ``"neuron"``: the traces belong
            to the neurons (they depend only on a neuron's own spikes, so all synapses of a
            neuron share them; with zero delays the result is the same): the presynaptic
            group provides ``apre`` (``+= a_plus`` at its spikes, in its reset, decaying with
            ``tau_plus``) and ``spiked`` (1 in the step of a spike, before the reset), the
            postsynaptic group ``apost`` (``+= a_minus``, decaying with ``tau_minus``). A
            pre and a post spike in the same step count as a pre->post pair (``+a_plus``), as
            with ``"synapse"``, where the pre pathway runs first. Saves two arrays and two
            exponentials per synapse event.
    """

    name = "da_stdp"

    def __init__(self, a_plus: float = 0.1, a_minus: float = 0.15, tau_plus_ms: float = 20.0, tau_minus_ms: float = 20.0,
                 tau_c_ms: float = 1000.0, tau_w_ms: float = 10.0, baseline: float = 0.002, w_max: float = 4.0,
                 update: str = "event", update_dt_ms: float = 10.0, traces: str = "synapse", label: str | None = None):
        super().__init__(label)
        values = dict(a_plus=a_plus, a_minus=a_minus, tau_plus_ms=tau_plus_ms, tau_minus_ms=tau_minus_ms, tau_c_ms=tau_c_ms,
                      tau_w_ms=tau_w_ms, w_max=w_max, update_dt_ms=update_dt_ms)
        for key, value in values.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise BioplausError(f"rule 'da_stdp': field '{key}' must be a positive number, got {value!r}.")
        if not (isinstance(baseline, (int, float)) and baseline >= 0):
            raise BioplausError(f"rule 'da_stdp': field 'baseline' must be a non-negative number, got {baseline!r}.")
        if update not in UPDATES:
            raise BioplausError(f"rule 'da_stdp': field 'update' is {update!r}; allowed values are {allowed(UPDATES)}.")
        if traces not in TRACES:
            raise BioplausError(f"rule 'da_stdp': field 'traces' is {traces!r}; allowed values are {allowed(TRACES)}.")
        self.update, self.traces = update, traces
        self.params = {k: float(v) for k, v in values.items()}
        self.params["baseline"] = float(baseline)

    #: per-neuron variables of the postsynaptic group for ``update="event"`` (and the dopamine ``d`` that ``"clock"`` reads)
    NEURON_MODEL = "d : 1\na_c : second\ng_c : 1\n"
    #: variables of the dopamine unit that :meth:`dopamine_event` advances: its dopamine ``d_r`` at its
    #: last event ``t_r``, and the envelope ``g_c`` and integral ``a_c`` over the time since then
    UNIT_MODEL = "d_r : 1\nt_r : second\na_c : second\ng_c : 1\n"
    #: the names of :meth:`neuron_namespace`, which the neurons and the dopamine unit share
    CONSTANTS = ("baseline", "tau_c", "tau_d")

    @staticmethod
    def neuron_step() -> str:
        """Statements advancing the postsynaptic group's ``d``, ``a_c``, ``g_c`` from the previous
        step to this one (run every step before the synapses, e.g. in the ``groups`` slot; the
        step at ``t = 0`` leaves them as set). Constants: :meth:`neuron_namespace`."""
        return ("dopa_k = int(t > 0.5 * dt)\n"
                "a_c = a_c + dopa_k * g_c * (baseline * tau_c * (1 - exp(-dt / tau_c))"
                " + d * (1 - exp(-dt / tau_c - dt / tau_d)) / (1 / tau_c + 1 / tau_d))\n"
                "g_c = g_c * (1 - dopa_k + dopa_k * exp(-dt / tau_c))\n"
                "d = d * (1 - dopa_k + dopa_k * exp(-dt / tau_d))")

    def neuron_namespace(self, tau_d_ms: float) -> dict[str, Any]:
        """The constants :data:`CONSTANTS` of :meth:`neuron_step` and :meth:`dopamine_event` (Brian2
        quantities; ``tau_d_ms``: the dopamine time constant, a property of the network)."""
        import brian2

        return {"baseline": self.params["baseline"], "tau_c": self.params["tau_c_ms"] * brian2.ms, "tau_d": tau_d_ms * brian2.ms}

    @staticmethod
    def dopamine_event(release: str) -> str:
        """Statements of a dopamine unit (variables :data:`UNIT_MODEL`) at a dopamine event at ``t``:
        the envelope ``g_c = exp(-(t - t_r)/tau_c)`` and the integral
        ``a_c = int_{t_r}^t (b + d(u)) g(u) du`` since its previous event ``t_r``, in closed form
        (what :meth:`neuron_step` accumulates step by step, here with ``d(u) = d_r exp(-(u - t_r)/tau_d)``),
        then its dopamine decays to ``t`` and rises by ``release``. Constants: :meth:`neuron_namespace`."""
        return ("g_c = exp(-(t - t_r) / tau_c)\n"
                "a_c = baseline * tau_c * (1 - g_c) + d_r * (1 - g_c * exp(-(t - t_r) / tau_d)) / (1 / tau_c + 1 / tau_d)\n"
                f"d_r = d_r * exp(-(t - t_r) / tau_d) + {release}\n"
                "t_r = t")

    @staticmethod
    def catch_up(syn: str = "", source: str = "_post") -> str:
        """Statements bringing ``w`` of a synapse from its last update to now (``update="event"``).
        ``syn`` is the suffix of the synapse's variables and ``source`` that of the integral
        ``a_c`` (``"_post"`` inside the synapse; ``"_post"`` and ``"_pre"`` in a pathway from
        the dopamine unit onto the synapses, see :meth:`renormalise`)."""
        w, c, a_w = f"w{syn}", f"c{syn}", f"a_w{syn}"
        return (f"{w} = clip({w} + {c} * (a_c{source} - {a_w}) / tau_w, 0, w_max)\n"
                f"{a_w} = a_c{source}")

    @classmethod
    def renormalise(cls) -> str:
        """The pathway code from a dopamine unit (which provides ``a_c``, ``g_c`` at the event,
        :meth:`dopamine_event`) onto the synapses: bring ``w`` up to date, then start a new
        envelope (``c <- c g``, ``a_w <- 0``). Constants: ``tau_w``, ``w_max`` of :meth:`synapse`."""
        return cls.catch_up(syn="_post", source="_pre") + "\nc_post = c_post * g_c_pre\na_w_post = 0 * second"

    @staticmethod
    def restart_neurons(release: str) -> str:
        """The pathway code from a dopamine unit onto the postsynaptic neurons, after
        :meth:`renormalise`: their dopamine ``d`` jumps by ``release`` and the envelope and
        its integral restart (``g_c = 1``, ``a_c = 0``)."""
        return f"d_post = d_post + {release}\na_c_post = 0 * second\ng_c_post = 1"

    def synapse(self, transmit: str) -> SynapseEquations:
        model = "w : 1\nc : 1\n"
        # with update="event", c is the eligibility divided by the envelope g_c of the postsynaptic group
        scale = " / g_c_post" if self.update == "event" else ""
        if self.traces == "synapse":
            model += "dapre/dt = -apre / tau_plus : 1 (event-driven)\ndapost/dt = -apost / tau_minus : 1 (event-driven)\n"
            pre, post = f"apre += a_plus\nc -= apost{scale}", f"apost += a_minus\nc += apre{scale}"
        else:
            pre, post = f"c -= apost_post{scale}", f"c += (apre_pre + a_plus * spiked_pre){scale}"
        p = self.params
        constants = {"a_plus": p["a_plus"], "a_minus": p["a_minus"], "tau_plus_ms": p["tau_plus_ms"],
                     "tau_minus_ms": p["tau_minus_ms"], "tau_c_ms": p["tau_c_ms"], "tau_w_ms": p["tau_w_ms"],
                     "baseline": p["baseline"], "w_max": p["w_max"], "update_dt_ms": p["update_dt_ms"]}
        if self.update == "event":
            up = self.catch_up()
            return SynapseEquations(model + "a_w : second\n", f"{up}\n{transmit}\n{pre}", f"{up}\n{post}", constants)
        regular = "w = clip(w + (baseline + d_post) * c * update_dt / tau_w, 0, w_max)\nc = c * exp(-update_dt / tau_c)"
        return SynapseEquations(model, f"{transmit}\n{pre}", post, constants, regular, p["update_dt_ms"])

    def config(self) -> dict[str, Any]:
        return {**super().config(), **self.params, "update": self.update, "traces": self.traces}


MODULATORS = ("rpe", "reward")
ELIGIBILITIES = ("stdp", "score")


class ThreeFactor(SpikingRule):
    """A three-factor rule for escape-noise neurons, applied at the end of each trial:
    ``dw = learning_rate * M * e`` (Frémaux, Sprekeler & Gerstner 2010, J. Neurosci. 30:13326).

    The eligibility ``e`` is accumulated over the trial by the synapse, which carries both
    kinds (so every rule can be compared with the same reference gradient):

    - ``stdp``: pair-based STDP, ``e += A+ exp(-dt/tau+)`` for pre->post, ``-A- exp(dt/tau-)``
      for post->pre (R-STDP);
    - ``score``: the likelihood-ratio eligibility of the escape-noise neuron (R-max),
      ``e = d log P(output spikes) / dw``: with spike probability ``p = 1 - exp(-rho dt)`` per
      step and ``rho = rho_0 exp((v - v_th)/delta_v)``, each step adds
      ``(rho dt / delta_v) x (s (1-p)/p - (1-s))`` where ``s`` says whether the neuron fired
      and ``x = dv/dw`` (the synapse's PSP since the last reset, integrated by the same Euler
      scheme as ``v``), so its mean is 0 and ``E[R e]`` is the gradient of the expected reward.

    The modulator ``M`` is ``rpe``, the reward minus the expected reward for that stimulus
    (a per-stimulus running average, the critic), or ``reward``, the raw reward. R-max
    (``score`` with either modulator) is unbiased; R-STDP needs the critic (Frémaux et al.
    2010). Since the update is applied once per trial, when the reward arrives, clipping to
    ``[0, w_max]`` after it is exact for either sign of ``M``.
    """

    name = "three_factor"

    def __init__(self, eligibility: str = "stdp", modulator: str = "rpe", learning_rate: float = 1e-3, a_plus: float = 1.0,
                 a_minus: float = 1.0, tau_plus_ms: float = 20.0, tau_minus_ms: float = 20.0, critic_rate: float = 0.1,
                 w_max_mV: float = 5.0, label: str | None = None):
        if eligibility not in ELIGIBILITIES:
            raise BioplausError(f"rule 'three_factor': field 'eligibility' is {eligibility!r}; allowed values are {allowed(ELIGIBILITIES)}.")
        if modulator not in MODULATORS:
            raise BioplausError(f"rule 'three_factor': field 'modulator' is {modulator!r}; allowed values are {allowed(MODULATORS)}.")
        self.name = "r_max" if eligibility == "score" else "r_stdp"
        super().__init__(label or f"{self.name}_{modulator}")
        self.eligibility, self.modulator = eligibility, modulator
        self.params = {"learning_rate": float(learning_rate), "a_plus": float(a_plus), "a_minus": float(a_minus),
                       "tau_plus_ms": float(tau_plus_ms), "tau_minus_ms": float(tau_minus_ms), "critic_rate": float(critic_rate),
                       "w_max_mV": float(w_max_mV)}

    def synapse(self, transmit: str) -> SynapseEquations:
        model = """
            w : volt
            e_stdp : 1
            e_score : 1/volt
            dx/dt = (y - x) / tau_m : 1 (clock-driven)
            dy/dt = -y / tau_syn : 1 (clock-driven)
            dapre/dt = -apre / tau_plus : 1 (event-driven)
            dapost/dt = -apost / tau_minus : 1 (event-driven)
        """
        on_pre = f"{transmit}\ny += 1\napre += a_plus\ne_stdp -= apost"
        on_post = ("apost += a_minus\ne_stdp += apre\n"
                   "e_score += rho_post * dt / (delta_v * (1 - exp(-rho_post * dt))) * x\nx = 0")
        regular = "e_score -= rho_post * dt / delta_v * x"
        p = self.params
        constants = {"a_plus": p["a_plus"], "a_minus": p["a_minus"], "tau_plus_ms": p["tau_plus_ms"], "tau_minus_ms": p["tau_minus_ms"]}
        return SynapseEquations(model, on_pre, on_post, constants, regular, 0.0, method="euler", regular_when="thresholds")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eligibility": self.eligibility, "modulator": self.modulator, **self.params}


def synapses(source, target, rule: SpikingRule, transmit: str, name: str, delay_ms: float | None = None,
             dt: Any = None, constants: dict[str, float] | None = None):
    """A ``brian2.Synapses`` named ``name`` from ``source`` to ``target`` implementing ``rule`` (not yet connected).

    The rule's periodic updates (``regular``) run every ``regular_dt_ms`` (every step if 0)
    in the ``regular_when`` slot, as ``{name}_regular``. ``constants`` adds names the
    equations use (e.g. the neuron's ``tau_m_ms``).
    """
    import brian2

    eq = rule.synapse(transmit)
    ns = namespace({**eq.constants, **(constants or {})})
    kwargs: dict[str, Any] = {"dt": dt if dt is not None else source.clock.dt}
    if delay_ms is not None:
        kwargs["delay"] = delay_ms * brian2.ms
    syn = brian2.Synapses(source, target, model=eq.model, on_pre=eq.on_pre, on_post=eq.on_post, namespace=ns,
                          method=eq.method, name=name, **kwargs)
    if eq.regular:
        regular_dt = eq.regular_dt_ms * brian2.ms if eq.regular_dt_ms > 0 else kwargs["dt"]
        syn.run_regularly(eq.regular, dt=regular_dt, when=eq.regular_when, order=1, name=f"{name}_regular")
    return syn
