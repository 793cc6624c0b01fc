"""Difference target propagation, DTP (Lee, Zhang, Fischer & Bengio 2015, "Difference Target Propagation",
ECML-PKDD, arXiv:1412.7525; in the form compared by Bartunov et al. 2018, "Assessing the Scalability of
Biologically-Motivated Deep Learning Algorithms and Architectures", NeurIPS 31, arXiv:1807.04587).

Each hidden layer gets a *target* instead of a gradient. The penultimate layer's target is one gradient
step of size ``eta`` on the loss (Lee et al. 2015; Bartunov et al. 2018)::

    hhat_{L-1} = h_{L-1} - eta dloss_n/dh_{L-1},

and targets travel down through learned approximate inverses ``g_l(h_l) = f_{l-1}(V_l h_l + c_l)`` of
each layer with the difference correction (Lee et al. 2015)::

    hhat_{l-1} = h_{l-1} + g_l(hhat_l) - g_l(h_l).

Every hidden layer then descends its local loss ``1/2 |h_l - hhat_l|^2`` through its own weights only;
the output layer descends the task loss. As an estimate in gradient units this is the delta
``(h_l - hhat_l) * f_l'(a_l) / (eta N)`` for ``dW_l = delta_l^T h_{l-1}``: with exact inverses of a
linear invertible network it is backprop's at the penultimate layer and a Gauss-Newton-like direction
below (Meulemans et al. 2020, arXiv:2006.14331). ``gradient_target="output"`` puts the gradient
step at the output instead (``hhat_L = h_L - eta dloss_n/dh_L``, Meulemans et al.'s form), with an
inverse of the output layer too.

The inverses learn on noise-corrupted reconstruction, by Adam with ``inverse_lr``, in :meth:`after_step`
(:meth:`train_inverses`). DTP uses Lee et al.'s *noise-preserving* loss
``1/2 |g_l(f_l(h_{l-1} + xi)) - (h_{l-1} + xi)|^2``, ``xi ~ N(0, noise^2)``; SDTP and AO-SDTP the *de-noising*
loss ``1/2 |g_l(f_l(h_{l-1} + xi)) - h_{l-1}|^2`` (Bartunov et al. 2018, Sec. 5.1 and Algorithms 1-2:
"our experiments with DTP use this noise-preserving loss ... with SDTP and AO-SDTP we use de-noising
autoencoder training"); ``denoise`` chooses.

Schedules (Bartunov et al. 2018, Sec. 2.1, "Parallel and alternating training of inverses"):

* ``"parallel"``: Algorithm 1 on every batch: one forward pass, the targets, one inverse step (on the
  forward weights of that pass), one forward step. Both kinds of weight change on every batch.
* ``"alternating"``: as in Lee et al.'s original implementation, which, in Bartunov et al.'s words,
  "trained one loss for one full epoch of the training set before switching to training the other loss":
  a full epoch of batches that train only the inverses (the forward weights frozen), then a full epoch
  that trains only the forward weights (the inverses frozen, the targets coming through them), and so on,
  starting with the inverses (the order of Lee et al.'s code as a re-implementation, alirezag/
  difference-target-propagation, describes it: "first the inverse model is trained on the entire dataset
  and then the forward model"). The epoch is the task's (``n_train // batch_size`` batches, bound by the run
  loop through :meth:`bind_epoch`) unless ``epoch_batches`` fixes it. Every batch counts as one of the run's
  steps, so at equal steps the alternating schedule makes half as many forward updates as the parallel one.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.feedforward import ForwardPass, activate, activation_slope
from bioplaus.rules.base import LayeredRule
from bioplaus.rules.predictive_coding import output_error
from bioplaus.tasks.base import cross_entropy, squared_error
from bioplaus.tasks.one_hot import one_hot_squared_error

SCHEDULES = ("parallel", "alternating")
GRADIENT_TARGETS = ("penultimate", "output")


def per_sample_output_delta(fp: ForwardPass) -> Tensor:
    """``dloss_n/da_L`` of each sample, ``(batch, n_L)``, in closed form (no autograd for the known losses)."""
    out, a = fp.post[-1].detach(), fp.pre[-1].detach()
    e = output_error(fp.loss_fn, out, fp.target)
    return e if fp.activations[-1] == "linear" else e * activation_slope(fp.activations[-1], a, out)


def hidden_gradients(weights: list[Tensor], fp: ForwardPass) -> list[Tensor]:
    """``dloss_n/dh_l`` of every layer's output (output last), ``(batch, n_l)``, by the chain rule written out."""
    delta = per_sample_output_delta(fp)
    grads = [output_error(fp.loss_fn, fp.post[-1].detach(), fp.target)]
    for i in range(len(weights) - 2, -1, -1):
        g = delta.mm(weights[i + 1])
        grads.append(g)
        delta = g * activation_slope(fp.activations[i], fp.pre[i].detach(), fp.post[i].detach())
    return grads[::-1]


class DifferenceTargetPropagation(LayeredRule):
    """Targets through learned inverses with the difference correction; a gradient step at the penultimate layer.

    Args:
        target_step: eta, the size of the gradient step that makes the top target; estimates are divided by it.
        noise: standard deviation of the corruption the inverses learn to undo (Lee et al. 2015).
        inverse_lr: Adam's learning rate for the inverses.
        schedule: ``"parallel"`` or ``"alternating"`` (see the module docstring).
        gradient_target: ``"penultimate"`` (Lee; Bartunov) or ``"output"`` (Meulemans et al. 2020).
        epoch_batches: batches per phase of the alternating schedule; ``None``: one epoch of the task's training set.
        denoise: the inverses reconstruct the clean activity (de-noising; SDTP's) instead of the corrupted one
            (noise-preserving; DTP's, the default here).
    """

    name = "difference_target_propagation"
    title = "DTP"
    colour = "#e377c2"
    requires = frozenset({"torch", "layered"})

    def __init__(self, target_step: float = 0.1, noise: float = 0.1, inverse_lr: float = 1e-3, schedule: str = "parallel",
                 gradient_target: str = "penultimate", epoch_batches: int | None = None, denoise: bool = False,
                 label: str | None = None):
        super().__init__(label)
        where = f"rules.{type(self).__name__}"
        for field, value in (("target_step", target_step), ("inverse_lr", inverse_lr)):
            if not (isinstance(value, (int, float)) and value > 0):
                raise BioplausError(f"{where}: field '{field}' must be a positive number, got {value!r}.")
        if not (isinstance(noise, (int, float)) and noise >= 0):
            raise BioplausError(f"{where}: field 'noise' must be a non-negative number, got {noise!r}.")
        if schedule not in SCHEDULES:
            raise BioplausError(f"{where}: field 'schedule' is {schedule!r}; allowed values are {allowed(SCHEDULES)}.")
        if gradient_target not in GRADIENT_TARGETS:
            raise BioplausError(f"{where}: field 'gradient_target' is {gradient_target!r}; allowed values are "
                                f"{allowed(GRADIENT_TARGETS)}.")
        if epoch_batches is not None and not (isinstance(epoch_batches, int) and not isinstance(epoch_batches, bool)
                                              and epoch_batches > 0):
            raise BioplausError(f"{where}: field 'epoch_batches' must be a positive integer (batches per phase of the "
                                f"alternating schedule) or None (one epoch of the task), got {epoch_batches!r}.")
        if not isinstance(denoise, bool):
            raise BioplausError(f"{where}: field 'denoise' must be True or False, got {denoise!r}.")
        self.target_step, self.noise, self.inverse_lr = float(target_step), float(noise), float(inverse_lr)
        self.schedule, self.gradient_target = schedule, gradient_target
        self.epoch_batches, self.denoise = epoch_batches, denoise
        self._phase_batches: int | None = epoch_batches
        self._batches = 0
        self.V: dict[int, Tensor] = {}
        self.c: dict[int, Tensor] = {}
        self._optimizer: torch.optim.Optimizer | None = None
        self._generator: torch.Generator | None = None
        self._last: dict[str, Any] = {}

    # -- which layers have inverses, and what the top layer's representation is -----------
    def inverted_layers(self, n_layers: int) -> list[int]:
        """Indices (0 = first weight layer) of the layers with a learned inverse: all but the first, up to the
        layer that receives the top target."""
        top = n_layers - 1 if self.gradient_target == "output" else n_layers - 2
        return list(range(1, top + 1))

    def inverse_input_size(self, model: nn.Module, i: int) -> int:
        return model.linear(model.layer_names[i]).weight.shape[0]

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        if len(model.layer_names) < 2:
            raise BioplausError(f"rules.{type(self).__name__}: model '{model.spec.name}' has one weight layer; "
                                "target propagation needs at least one hidden layer.")
        self._generator = generator
        self.V, self.c = {}, {}
        for i in self.inverted_layers(len(model.layer_names)):
            w = model.linear(model.layer_names[i]).weight
            n_out, n_in = w.shape[1], self.inverse_input_size(model, i)
            bound = math.sqrt(6.0 / (n_in + n_out))
            v = (torch.rand((n_out, n_in), generator=generator, dtype=torch.float64) * 2 - 1) * bound
            self.V[i] = v.to(dtype=w.dtype, device=w.device)
            self.c[i] = torch.zeros(n_out, dtype=w.dtype, device=w.device)
        self._optimizer = None
        self._batches = 0

    # -- the schedule -------------------------------------------------------------------------
    def bind_epoch(self, batches: int | None) -> None:
        """The run loop's batches per epoch (``None`` for a task without a fixed training set)."""
        self._phase_batches = self.epoch_batches if self.epoch_batches is not None else batches

    def phase(self) -> str:
        """What the current batch trains: ``"both"`` (parallel), or ``"inverse"`` / ``"forward"`` (alternating)."""
        if self.schedule == "parallel":
            return "both"
        if self._phase_batches is None:
            raise BioplausError(f"rules.{type(self).__name__}: schedule 'alternating' alternates whole epochs, but this "
                                "task has no fixed training set; give epoch_batches=N (batches per phase).")
        return "inverse" if (self._batches // self._phase_batches) % 2 == 0 else "forward"

    def trains_forward(self) -> bool:
        """Whether the run loop applies this batch's estimate to the forward weights (False in an inverse phase)."""
        return self.phase() != "inverse"

    def inverse(self, fp_activations: list[str], i: int, u: Tensor) -> Tensor:
        """``g_i(u) = f_{i-1}(V_i u + c_i)``: layer ``i``'s learned inverse, ``(batch, n_i) -> (batch, n_{i-1})``."""
        return activate(fp_activations[i - 1], torch.addmm(self.c[i], u, self.V[i].t()))

    # -- targets ------------------------------------------------------------------------------
    def top_target(self, model: nn.Module, fp: ForwardPass, weights: list[Tensor]) -> tuple[int, Tensor, Tensor, bool]:
        """``(k, r, rhat, own)``: the layer ``k`` whose inverse the top target enters through, the representation
        ``r`` that ``g_k`` reads with its target ``rhat``, and whether ``rhat`` is also layer k's own target (else
        layer k learns from the task loss). Here a gradient step of size eta on ``h_k`` itself."""
        grads = hidden_gradients(weights, fp)
        k = len(weights) - 1 if self.gradient_target == "output" else len(weights) - 2
        h = fp.post[k].detach()
        return k, h, h - self.target_step * grads[k], True

    def targets(self, model: nn.Module, fp: ForwardPass) -> list[Tensor | None]:
        """``hhat_l`` of every layer that learns toward a target (``None`` for layers that learn from the loss),
        ``(batch, n_l)``; the difference correction of Lee et al. 2015 below the top."""
        weights = [model.linear(n).weight.detach() for n in fp.layer_names]
        k, upper, upper_target, own = self.top_target(model, fp, weights)
        out: list[Tensor | None] = [None] * len(weights)
        if own:
            out[k] = upper_target
        for i in range(k, 0, -1):
            h_below = fp.post[i - 1].detach()
            out[i - 1] = h_below + self.inverse(fp.activations, i, upper_target) - self.inverse(fp.activations, i, upper)
            upper, upper_target = h_below, out[i - 1]
        return out

    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor]:
        """``(h_l - hhat_l) f_l'(a_l) / (scale N)`` for layers with targets; the task loss's delta at the output otherwise."""
        n = fp.post[-1].shape[0]
        with torch.no_grad():
            targets = self.targets(model, fp)
            scale = self.delta_scale()
            deltas = []
            for i, t in enumerate(targets):
                if t is None:
                    deltas.append(per_sample_output_delta(fp) / n)
                    continue
                diff = fp.post[i].detach() - t
                slope = activation_slope(fp.activations[i], fp.pre[i].detach(), fp.post[i].detach())
                deltas.append(diff.mul_(slope).div_(scale * n))
            self._last = {"fp": fp, "targets": targets,
                          "weights": [model.linear(name).weight.detach().clone() for name in fp.layer_names],
                          "biases": [None if (b := model.linear(name).bias) is None else b.detach().clone() for name in fp.layer_names]}
        return deltas

    def delta_scale(self) -> float:
        return self.target_step

    # -- the inverses learn -------------------------------------------------------------------
    def layer_forward(self, activations: list[str], weights: list[Tensor], biases: list[Tensor | None], i: int,
                      h_below: Tensor, fp: ForwardPass) -> Tensor:
        """What layer ``i``'s inverse reads when its input is ``h_below``: here the layer's output ``f_i(W_i h + b_i)``."""
        b = biases[i]
        a = h_below.mm(weights[i].t()) if b is None else torch.addmm(b, h_below, weights[i].t())
        return activate(activations[i], a)

    @torch.no_grad()
    def after_step(self, model: nn.Module, batch, estimate: dict[str, Tensor]) -> None:
        """The inverses' step of this batch, where the schedule trains them; then the batch is counted."""
        if self._last and self.V and self.phase() != "forward":
            self.train_inverses(model, batch)
        self._batches += 1

    @torch.no_grad()
    def train_inverses(self, model: nn.Module, batch) -> None:
        """One Adam step of every inverse on the noise-corrupted reconstruction loss of this batch, through the forward
        weights of the pass that made the targets (Algorithm 1: the inverses train before the forward weights change;
        in an inverse phase of the alternating schedule the forward weights do not change at all)."""
        fp = self._last["fp"]
        weights, biases, inputs = self._last["weights"], self._last["biases"], [h.detach() for h in fp.inputs]
        if self._optimizer is None:
            params = [t for i in sorted(self.V) for t in (self.V[i], self.c[i])]
            self._optimizer = torch.optim.Adam(params, lr=self.inverse_lr)
        for i in self.V:
            clean = inputs[i]
            noisy = clean + self.noise * torch.randn(clean.shape, generator=self._generator, dtype=clean.dtype).to(clean.device)
            u = self.layer_forward(fp.activations, weights, biases, i, noisy, fp)
            pre = torch.addmm(self.c[i], u, self.V[i].t())
            rec = activate(fp.activations[i - 1], pre)
            goal = clean if self.denoise else noisy
            d = (rec - goal).mul_(activation_slope(fp.activations[i - 1], pre, rec)).div_(clean.shape[0])
            self.V[i].grad = d.t().mm(u)
            self.c[i].grad = d.sum(0)
        self._optimizer.step()
        for i in self.V:
            self.V[i].grad = self.c[i].grad = None

    # -- what probes read ---------------------------------------------------------------------
    def probe_values(self) -> dict[str, Any]:
        """``target_difference`` (hhat_l - h_l), ``negative_gradient`` (-dloss_n/dh_l) and ``reconstruction_error``
        (``|g_l(f_l(h_{l-1})) - h_{l-1}|^2 / |h_{l-1}|^2`` on the clean batch) per layer name."""
        if not self._last:
            return {}
        fp, targets, weights, biases = (self._last[k] for k in ("fp", "targets", "weights", "biases"))
        with torch.no_grad():
            grads = hidden_gradients(weights, fp)
            names = fp.layer_names
            diff = {names[i]: t - fp.post[i].detach() for i, t in enumerate(targets) if t is not None}
            neg = {names[i]: -grads[i] for i in range(len(names)) if names[i] in diff}
            recon = {}
            for i in self.V:
                clean = fp.inputs[i].detach()
                rec = self.inverse(fp.activations, i, self.layer_forward(fp.activations, weights, biases, i, clean, fp))
                denominator = float(clean.square().sum())
                if denominator > 0:
                    recon[names[i]] = float((rec - clean).square().sum()) / denominator
        return {"target_difference": diff, "negative_gradient": neg, "reconstruction_error": recon}

    def fresh(self) -> DifferenceTargetPropagation:
        fresh = super().fresh()
        fresh._optimizer, fresh._last, fresh._batches, fresh._phase_batches = None, {}, 0, fresh.epoch_batches
        return fresh

    def config(self) -> dict[str, Any]:
        return {**super().config(), "target_step": self.target_step, "noise": self.noise, "inverse_lr": self.inverse_lr,
                "schedule": self.schedule, "gradient_target": self.gradient_target, "epoch_batches": self.epoch_batches,
                "denoise": self.denoise}


def label_target(fp: ForwardPass) -> tuple[Tensor, Tensor]:
    """``(r_L, rhat_L)``: the output as the top inverse reads it and its target, the label itself (Bartunov et al.
    2018, SDTP: ``hhat_L = argmin_h loss(h)``): softmax probabilities and the one-hot label for cross-entropy, the
    output and ``y`` for squared error, the output and the one-hot label for the one-hot squared error."""
    out = fp.post[-1].detach()
    if fp.loss_fn is cross_entropy:
        return torch.softmax(out, 1), F.one_hot(fp.target, out.shape[1]).to(out.dtype)
    if fp.loss_fn is squared_error:
        return out, fp.target.to(out.dtype)
    if fp.loss_fn is one_hot_squared_error:
        return out, F.one_hot(fp.target, out.shape[1]).to(out.dtype)
    raise BioplausError("simplified_dtp: the output target is the label, known for the losses cross_entropy, "
                        "squared_error and one_hot_squared_error; this task's loss is none of them. Use "
                        "difference_target_propagation (a gradient target) for other losses.")
