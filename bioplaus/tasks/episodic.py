"""An environment as a task: each batch is one fresh episode per learner, sampled under its current policy.

``Episodic("random_walk", {"n_states": 19})`` names one of :data:`ENVIRONMENTS` and its parameters.
The task's batches are :class:`EpisodeBatch` es: the episodes (:class:`~bioplaus.rl.episodes.Episodes`),
the environment's model (for the agent's exact reference) and, as ``x`` / ``y``, the features of the
visited states ``(L, T, d)`` and their returns ``G_t`` ``(L, T)``, scored by the Monte Carlo value loss
``1/2 sum_l sum_t (v_hat(s_t) - G_t)^2`` (zero on padding). Actions come from the agent's current
policy: the run loop hands the task the model once (``bind_model``) before the first batch.

Evaluation (the ``agent_evaluation`` probe) is exact, from the model of the environment, averaged
over learners: ``value_error`` (on-policy weighted RMS error against ``v_pi``), ``value_rms`` (uniform
over states, Sutton & Barto's random-walk figures), ``expected_return`` ``J = d0 . v_pi``, and the expected
TD error in each state with the rewards given (``td_error@SSS``) and omitted (``td_error_omitted@SSS``),
which the ``dopamine`` probe records with layer = the state (for conditioning trials: the time step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rl.environments import conditioning, delayed_choice, random_walk, small_mdp
from bioplaus.rl.episodes import Episodes, rollout
from bioplaus.rl.mdp import TabularMDP, expected_td_errors, state_values, value_error
from bioplaus.rl.returns import discounted_returns
from bioplaus.tasks.base import Task, TaskInstance

#: the shipped environments by name: ``name -> (S, A) MDP factory``
def gymnasium_environment(id: str, gamma: float = 1.0, **kwargs: Any) -> TabularMDP:
    """The model of the registered Gymnasium toy-text environment ``id`` (``gymnasium.make(id, **kwargs)``),
    read by :func:`bioplaus.rl.gym_env.from_gymnasium`."""
    import gymnasium

    from bioplaus.rl.gym_env import from_gymnasium

    try:
        env = gymnasium.make(id, **kwargs)
    except gymnasium.error.Error as e:
        raise BioplausError(f"tasks.Episodic: environment 'gymnasium' with id {id!r}: {e}") from e
    return from_gymnasium(env, gamma)


ENVIRONMENTS: dict[str, Callable[..., TabularMDP]] = {
    "random_walk": random_walk,
    "conditioning": conditioning,
    "delayed_choice": delayed_choice,
    "small_mdp": small_mdp,
    "gymnasium": gymnasium_environment,
}


def value_loss(values: Tensor, returns: Tensor) -> Tensor:
    """``1/2 sum (v_hat - G)^2`` over learners and steps (a sum: independent learners; padding contributes 0)."""
    return 0.5 * (values - returns).square().sum()


@dataclass(frozen=True)
class EpisodeBatch(Batch):
    """A :class:`~bioplaus.core.Batch` of one episode per learner, with the episodes and the environment's model."""

    episodes: Episodes
    mdp: TabularMDP


def episode_batch(mdp: TabularMDP, episodes: Episodes) -> EpisodeBatch:
    """The batch of ``episodes``: features ``(n, T, d)`` (zero on padding) and returns ``(n, T)``."""
    x = mdp.features[episodes.states] * episodes.mask.unsqueeze(-1)
    return EpisodeBatch(x, discounted_returns(episodes.rewards, mdp.gamma), value_loss, episodes, mdp)


@dataclass
class AgentTaskInstance(TaskInstance):
    """A :class:`TaskInstance` whose batches need the agent (its policy): ``bind_model`` gives it."""

    bind_model: Callable[[Any], None] = lambda model: None


@dataclass(frozen=True)
class Episodic(Task):
    """An environment of :data:`ENVIRONMENTS` with its keyword parameters; one episode per learner per step."""

    environment: str = "random_walk"
    parameters: dict[str, Any] = field(default_factory=dict)
    name = "episodic"
    kind = "regression"

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise BioplausError(f"tasks.Episodic: field 'environment' is {self.environment!r}; allowed values are "
                                f"{allowed(ENVIRONMENTS)}.")
        try:
            self.mdp()
        except TypeError as e:
            raise BioplausError(f"tasks.Episodic: field 'parameters' of environment {self.environment!r}: {e}; see "
                                f"bioplaus.rl.environments.{ENVIRONMENTS[self.environment].__name__} for its parameters.") from e

    def mdp(self) -> TabularMDP:
        return ENVIRONMENTS[self.environment](**self.parameters)

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("loss", "value_error", "expected_return")

    def config(self) -> dict[str, Any]:
        return {"task": self.name, "environment": self.environment, **self.parameters}

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> AgentTaskInstance:
        mdp = self.mdp()
        agent: dict[str, Any] = {}

        def next_batch() -> EpisodeBatch:
            model = agent["model"]
            return episode_batch(mdp, rollout(mdp, model.probabilities(), model.learners, generator))

        @torch.no_grad()
        def evaluate(model: Any) -> dict[str, float]:
            pi = model.probabilities()
            values = model.values(mdp.features)
            out = {
                "value_error": float(value_error(mdp, pi, values, "on_policy").mean()),
                "value_rms": float(value_error(mdp, pi, values, "uniform").mean()),
                "expected_return": float((state_values(mdp, pi) @ mdp.initial).mean()),
            }
            for metric, rewarded in (("td_error", True), ("td_error_omitted", False)):
                profile = expected_td_errors(mdp, pi, values, rewarded).mean(0)
                out.update({f"{metric}@{s:03d}": float(v) for s, v in enumerate(profile)})
            return out

        instance = AgentTaskInstance(loss_fn=value_loss, next_batch=next_batch, test=(mdp.features, torch.zeros(mdp.n_states)),
                                     train_eval=None, n_train=None, classification=False,
                                     bind_model=lambda model: agent.__setitem__("model", model))
        instance.evaluate = evaluate  # exact, from the environment's model
        return instance
