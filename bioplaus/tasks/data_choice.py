"""A task whose data depend on whether the user gave ``--data-dir``.

Shipped protocols run anywhere by default on a small stand-in (scikit-learn's 8x8 digits)
and on the paper's own data (MNIST from IDX files) when the user passes ``--data-dir``.
:class:`ByDataDir` names both tasks and, because the paper's network has another input
size, the model for the data-dir case; :func:`resolve_data_dir` turns a protocol into the
one a run with (or without) ``--data-dir`` executes, so that its stored configuration
(task, model sizes) says which data it was trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bioplaus.errors import BioplausError
from bioplaus.tasks.base import Task


@dataclass
class ByDataDir(Task):
    """``default`` without ``--data-dir``, ``with_data_dir`` with it (e.g. ``Digits()`` and ``MNIST()``).

    ``model_with_data_dir``: a model spec, or the name of one in ``models/``, used instead of
    the protocol's ``model`` when ``--data-dir`` is given (``None``: the same model for both).
    It is checked against ``with_data_dir`` here, so that a wrong input size fails when the
    protocol script is loaded, not when a user first passes ``--data-dir``.
    """

    default: Task
    with_data_dir: Task
    model_with_data_dir: Any = None

    name = "by_data_dir"

    def __post_init__(self) -> None:
        for field in ("default", "with_data_dir"):
            if not isinstance(getattr(self, field), Task) or isinstance(getattr(self, field), ByDataDir):
                raise BioplausError(f"tasks.ByDataDir field '{field}' must be a task such as tasks.Digits() or tasks.MNIST(); "
                                    f"got {getattr(self, field)!r}.")
        if (self.default.kind, self.default.n_out) != (self.with_data_dir.kind, self.with_data_dir.n_out):
            raise BioplausError(
                f"tasks.ByDataDir: 'default' ({self.default.name}: {self.default.kind}, {self.default.n_out} outputs) and "
                f"'with_data_dir' ({self.with_data_dir.name}: {self.with_data_dir.kind}, {self.with_data_dir.n_out} outputs) "
                f"must be the same kind of task with the same number of outputs.")
        self.kind, self.n_in, self.n_out = self.default.kind, self.default.n_in, self.default.n_out
        if self.model_with_data_dir is not None:
            self.model_with_data_dir = checked_model(self.model_with_data_dir, self.with_data_dir, "model_with_data_dir")

    def choose(self, data_dir: str | None) -> Task:
        """The task a run executes: ``with_data_dir`` when ``data_dir`` is given, else ``default``."""
        return self.default if data_dir is None else self.with_data_dir

    def config(self) -> dict[str, Any]:
        return {"task": self.name, "default": self.default.config(), "with_data_dir": self.with_data_dir.config()}

    def check(self, data_dir: str | None) -> None:
        self.choose(data_dir).check(data_dir)

    def instantiate(self, generator, data_dir, device, batch_size):
        return self.choose(data_dir).instantiate(generator, data_dir, device, batch_size)

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.default.metrics


def checked_model(model: Any, task: Task, field: str) -> Any:
    """``model`` (a spec or a name in ``models/``) as a spec, after checking that it fits ``task``."""
    from bioplaus import models

    spec = models.load(model) if isinstance(model, str) else model
    if not models.is_spec(spec):
        raise BioplausError(f"tasks.ByDataDir field '{field}' must be a model spec or the name of one in models/; got {model!r}.")
    check = models.kind(spec.kind).check_task
    problem = check(spec, task) if check is not None else None
    if problem:
        raise BioplausError(f"tasks.ByDataDir field '{field}': {problem}")
    return spec


def resolve_data_dir(protocol, data_dir: str | None):
    """``protocol`` with a :class:`ByDataDir` task replaced by the task (and model) chosen by ``data_dir``.

    Any other protocol is returned unchanged, so calling this twice is harmless. The
    returned protocol's ``run_config`` names the chosen task and model: runs on MNIST and on
    the digits are never mistaken for one another in a store.
    """
    task = protocol.task
    if not isinstance(task, ByDataDir):
        return protocol
    model = task.model_with_data_dir if data_dir is not None and task.model_with_data_dir is not None else protocol.model
    return dataclasses.replace(protocol, task=task.choose(data_dir), model=model)


def mnist_or_digits(image: bool = False, train_eval_size: int = 10000) -> ByDataDir:
    """The task for protocols that reproduce an MNIST result with one 784-input network:
    MNIST from ``--data-dir`` when given, else scikit-learn's 8x8 digits resized to 28x28
    (:class:`bioplaus.tasks.Digits` with ``side=28``; bilinear, no information added)."""
    from bioplaus.tasks.digits import Digits
    from bioplaus.tasks.mnist import MNIST

    return ByDataDir(default=Digits(image=image, side=28), with_data_dir=MNIST(image=image, train_eval_size=train_eval_size))
