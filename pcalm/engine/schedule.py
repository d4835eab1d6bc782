"""The resolve step: an algorithm config, a model and a probe batch made into the concrete
schedule that a run executes (DESIGN section 3).

PC becomes PC-ALM with alpha = 0, rho = 1, k = 1 (:meth:`pcalm.PC.as_pcalm`); eta = "auto"
becomes 1/lambda_max of the activity Hessian of L_rho at the feedforward start on the probe
batch (:func:`pcalm.activity_lambda_max`); T = 2L where ``steps`` is None; and which activity
steps end with a dual step becomes the list ``alphas`` (:meth:`pcalm.PCALM.dual_alphas`).
``pcalm.infer`` resolves on every call; ``pcalm.train`` resolves once per run, on the initial
model and the first batch, and hands the result to every step. The reference loop and both
ways of the fast path (:mod:`pcalm.engine.stacked`) read the schedule, never the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pcalm.engine.algorithms import PC, PCALM
from pcalm.models.base import LayeredModel
from pcalm.engine.step_size import activity_lambda_max


@dataclass(frozen=True)
class Schedule:
    """A PC / PC-ALM run made concrete for one model.

    name: the method ("pc" or "pc-alm"), for messages; eta, alpha, rho, inner_steps (k) and
    timing as in :class:`pcalm.PCALM`; alphas: the dual step's alpha after each of the T k
    activity steps (0 where none follows); lambda_max: the eigenvalue that set eta = 1/lambda_max
    (None when eta was given).
    """

    name: str
    eta: float
    alpha: float
    rho: float
    inner_steps: int
    timing: str
    alphas: tuple[float, ...]
    lambda_max: float | None = None

    @property
    def steps(self) -> int:
        """T, the number of rounds."""
        return len(self.alphas) // self.inner_steps

    @property
    def errors_are_eps(self) -> bool:
        """PC's case, alpha = 0 and rho = 1: lam stays 0, so e_l = lam_l + rho eps_l is eps_l."""
        return self.alpha == 0.0 and self.rho == 1.0

    def dual_updates(self, hidden_layers: int) -> int:
        """Vector updates lam_l <- lam_l + alpha eps_l the schedule asks for: one per hidden layer
        and nonzero entry of ``alphas``."""
        return hidden_layers * sum(alpha != 0.0 for alpha in self.alphas)


def resolve(algo: PC | PCALM | Schedule, model: LayeredModel, x: torch.Tensor, y: torch.Tensor) -> Schedule:
    """The concrete schedule of ``algo`` on ``model`` (a Schedule is returned as it is).

    Arguments:
        algo: PC or PCALM (eta a number or "auto"), or an already resolved Schedule.
        model: the network; its depth L sets T = 2L where ``steps`` is None.
        x, y: the probe batch on which eta = "auto" is resolved, eta = 1/lambda_max with
            lambda_max the largest eigenvalue of the per-sample activity Hessian of L_rho
            (rho = 1 for PC) at the feedforward start.

    Returns:
        The Schedule: PC as PC-ALM with alpha = 0, rho = 1, k = 1; the alphas of
        :meth:`pcalm.PCALM.dual_alphas`.
    """
    if isinstance(algo, Schedule):
        return algo
    config = algo.as_pcalm()
    lambda_max = activity_lambda_max(model, x, y, config.rho) if config.eta == "auto" else None
    eta = 1.0 / lambda_max if lambda_max is not None else float(config.eta)
    return Schedule(
        name=algo.name,
        eta=eta,
        alpha=float(config.alpha),
        rho=float(config.rho),
        inner_steps=config.inner_steps,
        timing=config.timing,
        alphas=tuple(config.dual_alphas(model.depth)),
        lambda_max=lambda_max,
    )
