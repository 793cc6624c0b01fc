"""A task whose data depend on whether the user gave ``--data-dir``.

Shipped protocols run anywhere by default on a small stand-in (scikit-learn's 8x8 digits)
and on the paper's own data (MNIST from IDX files) when the user passes ``--data-dir``.
:class:`ByDataDir` names both tasks and, because the paper's network has another input
size, the model for the data-dir case; :meth:`bioplaus.Protocol.for_data_dir` turns a
protocol into the one a run with (or without) ``--data-dir`` executes (once, in the
executor), so that its stored configuration (task, model sizes) says which data it was
trained on. The protocol checks ``model_with_data_dir`` against ``with_data_dir`` when it
is built, so a wrong input size fails when the script is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bioplaus.errors import BioplausError
from bioplaus.tasks.base import Task
from bioplaus.tasks.digits import Digits
from bioplaus.tasks.mnist import MNIST


@dataclass
class ByDataDir(Task):
    """``default`` without ``--data-dir``, ``with_data_dir`` with it (e.g. ``Digits()`` and ``MNIST()``).

    ``model_with_data_dir``: a model spec, or the name of one in ``models/``, used instead of
    the protocol's ``model`` when ``--data-dir`` is given (``None``: the same model for both).
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


def mnist_or_digits(image: bool = False, train_eval_size: int = 10000) -> ByDataDir:
    """The task for protocols that reproduce an MNIST result with one 784-input network:
    MNIST from ``--data-dir`` when given, else scikit-learn's 8x8 digits resized to 28x28
    (:class:`bioplaus.tasks.Digits` with ``side=28``; bilinear, no information added)."""
    return ByDataDir(default=Digits(image=image, side=28), with_data_dir=MNIST(image=image, train_eval_size=train_eval_size))
