"""Sequence tasks for recurrent networks: delayed recall, copy memory and the adding problem.

Every task draws fresh sequences from the run's data stream each step and keeps a
fixed test set. Inputs are ``(batch, T, n_in)``; targets ``(batch, T, n_out)`` hold
``NaN`` at the time steps that are not scored. The loss,
:class:`SequenceSquaredError`, is ``1/2 |y_hat_t - y_t|^2`` summed over scored outputs
and time steps, mean over sequences: a sum of per-step terms, so its derivative at
step ``t`` depends only on the output at ``t`` (what an online rule may know at ``t``).
"""

from __future__ import annotations

from dataclasses import dataclass
import torch
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.tasks.base import Task, TaskInstance


class SequenceSquaredError:
    """``L = (1/B) sum_b sum_t 1/2 |y_hat_bt - y_bt|^2`` over the non-``NaN`` targets."""

    def per_step(self, output: Tensor, target: Tensor) -> Tensor:
        """``l_bt``, shape ``(batch, T)``: each sequence's loss at each step (without the ``1/B``)."""
        scored = ~torch.isnan(target)
        diff = torch.where(scored, output - torch.nan_to_num(target).to(output.dtype), torch.zeros((), dtype=output.dtype))
        return 0.5 * diff.square().sum(-1)

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        return self.per_step(output, target).sum(1).mean(0)


sequence_squared_error = SequenceSquaredError()


class SequenceTaskInstance(TaskInstance):
    """A :class:`TaskInstance` whose evaluation adds ``test_accuracy`` for symbol-recall tasks."""

    symbols: bool = False

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        x, y = self.test
        out = model(x)
        result = {"test_loss": float(self.loss_fn(out, y))}
        if self.symbols:
            scored = ~torch.isnan(y[..., 0])
            correct = out.argmax(-1) == torch.nan_to_num(y).argmax(-1)
            result["test_accuracy"] = float(correct[scored].to(torch.float64).mean())
        return result


class SequenceTask(Task):
    """Base of the sequence tasks: subclasses implement ``sample(generator, count) -> (x, y)``."""

    sequence = True
    kind = "regression"
    n_test: int = 512
    symbols = False

    def sample(self, generator: torch.Generator, count: int) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        x_test, y_test = self.sample(generator, self.n_test)

        def next_batch() -> Batch:
            x, y = self.sample(generator, batch_size)
            return Batch(x.to(device), y.to(device), sequence_squared_error)

        inst = SequenceTaskInstance(sequence_squared_error, next_batch, (x_test.to(device), y_test.to(device)), None, None, classification=False)
        inst.symbols = self.symbols
        return inst

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("loss", "test_loss", "test_accuracy") if self.symbols else ("loss", "test_loss")

    def sequence_length(self) -> int:
        raise NotImplementedError


@dataclass
class DelayedRecall(SequenceTask):
    """Remember ``n_values`` numbers ``s ~ U(-1, 1)`` shown at ``t = 0`` and report them at a cue.

    Channels: ``n_values`` stimulus channels (non-zero only at ``t = 0``) and one cue channel
    (1 at ``t = delay + 1``). The target is ``s`` at the cue step and for the ``report - 1``
    steps after it; ``T = delay + 1 + report``. A single-stimulus delayed-recall family in
    the spirit of the tasks of Marschall et al. (2020, Sec. 6), not their exact definition.
    """

    delay: int = 5
    n_values: int = 1
    report: int = 1
    n_test: int = 512

    name = "delayed_recall"

    @property
    def n_in(self) -> int:
        return self.n_values + 1

    @property
    def n_out(self) -> int:
        return self.n_values

    def sequence_length(self) -> int:
        return self.delay + 1 + self.report

    def config(self) -> dict:
        return {"task": self.name, "delay": self.delay, "n_values": self.n_values, "report": self.report, "n_test": self.n_test}

    def sample(self, generator: torch.Generator, count: int) -> tuple[Tensor, Tensor]:
        t_total, cue = self.sequence_length(), self.delay + 1
        s = torch.rand((count, self.n_values), generator=generator) * 2 - 1
        x = torch.zeros((count, t_total, self.n_in))
        x[:, 0, : self.n_values] = s
        x[:, cue, -1] = 1.0
        y = torch.full((count, t_total, self.n_values), float("nan"))
        y[:, cue:] = s[:, None, :]
        return x, y


@dataclass
class CopyMemory(SequenceTask):
    """Copy memory (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): recall ``length`` symbols after a delay.

    Inputs: ``length`` random one-hot symbols from ``n_symbols``, then ``delay`` blank steps,
    a go cue (last channel) and ``length`` blank recall steps; ``T = 2 length + delay + 1``.
    Targets: the symbols, one-hot, during the ``length`` recall steps after the cue.
    ``test_accuracy`` is the fraction of recalled symbols whose largest output is right.
    """

    length: int = 3
    delay: int = 5
    n_symbols: int = 4
    n_test: int = 512

    name = "copy_memory"
    symbols = True

    @property
    def n_in(self) -> int:
        return self.n_symbols + 1

    @property
    def n_out(self) -> int:
        return self.n_symbols

    def sequence_length(self) -> int:
        return 2 * self.length + self.delay + 1

    def config(self) -> dict:
        return {"task": self.name, "length": self.length, "delay": self.delay, "n_symbols": self.n_symbols, "n_test": self.n_test}

    def sample(self, generator: torch.Generator, count: int) -> tuple[Tensor, Tensor]:
        L, go = self.length, self.length + self.delay
        sym = torch.randint(0, self.n_symbols, (count, L), generator=generator)
        onehot = torch.nn.functional.one_hot(sym, self.n_symbols).to(torch.float32)
        x = torch.zeros((count, self.sequence_length(), self.n_in))
        x[:, :L, : self.n_symbols] = onehot
        x[:, go, -1] = 1.0
        y = torch.full((count, self.sequence_length(), self.n_symbols), float("nan"))
        y[:, go + 1 :] = onehot
        return x, y


@dataclass
class AddingProblem(SequenceTask):
    """The adding problem (Hochreiter & Schmidhuber 1997): output the sum of the two marked numbers.

    Channel 0 holds ``U(0, 1)`` numbers, channel 1 marks one position in the first half and
    one in the second half of the ``length`` steps; the target is their sum at the last step.
    """

    length: int = 10
    n_test: int = 512

    name = "adding_problem"
    n_in = 2
    n_out = 1

    def sequence_length(self) -> int:
        return self.length

    def config(self) -> dict:
        return {"task": self.name, "length": self.length, "n_test": self.n_test}

    def sample(self, generator: torch.Generator, count: int) -> tuple[Tensor, Tensor]:
        T, half = self.length, self.length // 2
        values = torch.rand((count, T), generator=generator)
        first = torch.randint(0, half, (count,), generator=generator)
        second = torch.randint(half, T, (count,), generator=generator)
        marks = torch.zeros((count, T))
        rows = torch.arange(count)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        x = torch.stack([values, marks], -1)
        y = torch.full((count, T, 1), float("nan"))
        y[:, -1, 0] = values[rows, first] + values[rows, second]
        return x, y


@dataclass
class InfluenceBalancing(SequenceTask):
    """The influence-balancing target of Tallec & Ollivier (ICLR 2018, Sec. 5): drive unit 0 to 1.

    No input (one constant-zero channel), one output ``y_t = h_t[0]`` scored against 1 at the
    steps after ``burn_in`` of ``length`` steps from ``h_0 = 0`` (the burn-in stands in for the
    paper's stream, where the state has long reached its regime). Meant for the
    ``influence_balancing`` cell, whose only parameter ``theta`` raises ``h[0]`` within a few
    steps and lowers it in the long run: in the regime ``h[0] = 2 theta (n_positive - n_negative)``.
    """

    length: int = 80
    burn_in: int = 40
    n_test: int = 4

    name = "influence_balancing"
    n_in = 1
    n_out = 1

    def sequence_length(self) -> int:
        return self.length

    def config(self) -> dict:
        return {"task": self.name, "length": self.length, "burn_in": self.burn_in, "n_test": self.n_test}

    def sample(self, generator: torch.Generator, count: int) -> tuple[Tensor, Tensor]:
        y = torch.ones((count, self.length, 1))
        y[:, : self.burn_in] = float("nan")
        return torch.zeros((count, self.length, 1)), y
