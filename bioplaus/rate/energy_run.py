"""How a protocol runs an energy-based model: the rate trainer's :class:`~bioplaus.train.Trainer`
plus what relaxation adds, or the EP/BPTT step-by-step comparison.

- Training runs record ``relax_steps`` (steps each phase used on the batch; layer = phase:
  ``free``, ``nudged``, ``nudged_negative``, ``clamped``, ...) and take ``update_angle`` to
  the implicit gradient only when the batch's free phase reached the model's tolerance.
- A protocol asking for ``gdu_angle`` / ``gdu_rel_error`` trains nothing: on the run's
  first batch it compares EP's first ``K = nudged_max_steps`` nudged updates with BPTT
  (:func:`bioplaus.metrics.gdu.gdu_rows`), rows at ``step = t``.
"""

from __future__ import annotations

from bioplaus import metrics as M
from bioplaus import models
from bioplaus.errors import BioplausError
from bioplaus.seeding import generator
from bioplaus.train import RunResult, Trainer, _train, make_optimizer


class EnergyTrainer(Trainer):
    """A :class:`Trainer` that records relaxation lengths and drops angles to an unconverged fixed point.

    The optimizer's keyword ``layer_lr`` (``{layer: lr}``) gives layers their own learning rates,
    as Scellier & Bengio 2017 did (larger near the input); other layers keep ``lr``.
    """

    def __init__(self, model, rule, task, optimizer, metrics, batch_size, cka_samples=2000):
        name, kwargs = optimizer
        kwargs = dict(kwargs)
        layer_lr = kwargs.pop("layer_lr", None)
        super().__init__(model, rule, task, (name, kwargs), metrics, batch_size, cka_samples)
        if layer_lr:
            unknown = set(layer_lr) - set(model.layer_names)
            if unknown:
                raise BioplausError(f"optimizer 'layer_lr' names unknown layers {sorted(unknown)}; the model's layers are {model.layer_names}.")
            groups = [{"params": list(model.layers[n].parameters()), **({"lr": layer_lr[n]} if n in layer_lr else {})}
                      for n in model.layer_names]
            self.opt = make_optimizer((name, kwargs), groups)

    def record(self, step: int, loss: float, angles: dict[str, float] | None) -> None:
        converged, log = self.model.free_converged, dict(self.model.relaxation_log)  # before evaluation relaxes again
        super().record(step, loss, angles if converged else None)
        if "relax_steps" in self.wanted:
            epoch = step / self.per_epoch if self.per_epoch else None
            self.rows.extend((step, epoch, "relax_steps", phase, float(n)) for phase, n in sorted(log.items()))


def run(protocol, condition, seed, device, data_dir, progress) -> RunResult:
    """One (condition, seed) of ``protocol`` on an :class:`~bioplaus.rate.energy.EnergyNet`: the rate
    trainer's run loop with :class:`EnergyTrainer`, or the EP/BPTT comparison for the gdu metrics."""
    if not set(protocol.metrics) & set(M.GDU_METRICS):
        return _train(protocol, condition, seed, device, data_dir, progress, trainer_class=EnergyTrainer)
    root = protocol.root_seed
    task = protocol.task.instantiate(generator(root, seed, "data"), data_dir, device, protocol.batch_size)
    model = models.build(protocol.model, generator(root, seed, "init")).to(device)
    rule = protocol.rule(condition).fresh()
    rule.setup(model, generator(root, seed, f"rule:{rule.name}"))
    return _gdu_run(protocol, model, rule, task.next_batch())


def _gdu_run(protocol, model, rule, batch) -> RunResult:
    from bioplaus.metrics.gdu import gdu_rows
    from bioplaus.rules import EquilibriumPropagation

    if not isinstance(rule, EquilibriumPropagation) or rule.random_sign:
        raise BioplausError(f"protocol '{protocol.name}': the gdu metrics compare equilibrium_propagation "
                            f"(positive, negative or centered nudging, fixed sign) with BPTT; condition {rule.label!r} is {rule!r}.")
    if model.spec.formulation != "energy":
        raise BioplausError(f"protocol '{protocol.name}': the gdu metrics need a model with formulation = 'energy' "
                            f"(discrete-time dynamics s_(t+1) = dPhi/ds); model '{model.spec.name}' has {model.spec.formulation!r}.")
    beta = -rule.beta if rule.nudging == "negative" else rule.beta
    rows = gdu_rows(model, batch, beta, rule.nudging == "centered", model.spec.nudged_max_steps)
    wanted = set(protocol.metrics)
    out = [(t, None, metric, layer, value) for t, metric, layer, value in rows if metric in wanted]
    out += [(0, None, "relax_steps", "free", float(model.relaxation_log["free"]))] if "relax_steps" in wanted else []
    return RunResult(status="done", rows=out, steps_done=0)
