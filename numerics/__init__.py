"""NumPy/SciPy float64 reference numerics for PC and PC-ALM (DESIGN claims C1-C3).

Imports nothing else of the project. Modules, one job each:

- ``energy``: the one energy L_rho (PC: lam = 0, rho = 1) and its local update rules.
- ``bp``: backpropagation, the reference gradient and backward signals.
- ``derivatives``: complex-step gradients (grad F* from ``pc_free_energy``).
- ``linear``: the per-sample matrices A, D, H and the KKT matrix of a linear net.
- ``kkt``: the saddle-point residual in stacked per-sample form.
- ``equilibrium``: exact linear equilibria (one sparse solve) and PC's F*.
- ``flow``: the continuous primal-dual flow, its Jacobian and eigenvalues, ``solve_ivp``.
- ``schedule``: the canonical discrete schedule, its linear map, spectral radius (with LAPACK's
  error bound), largest stable eta and alpha.
- ``schedule_jacobian``: the schedule's Jacobian at a state of a nonlinear net, its spectral radius (C8).
- ``hessian``: lambda_max of the activity Hessian (dense and power iteration), eta = 1/lambda_max.
- ``saddle``: nonlinear fixed points (PC-ALM's saddle, PC's equilibrium) by ``scipy.optimize.root``.
- ``residual``: the linear residual MLP as a plain linear net.
"""

from numerics.bp import BPResult, bp_gradients
from numerics.derivatives import complex_step_gradient
from numerics.energy import (
    activity_grads,
    effective_errors,
    errors,
    feedforward,
    lagrangian,
    multiplier_grads,
    weight_grads,
)
from numerics.equilibrium import InferenceState, linear_equilibrium, pc_free_energy
from numerics.flow import FlowResult, flow_eigenvalues, flow_jacobian, integrate_flow
from numerics.hessian import hessian_lambda_max, hessian_lambda_max_power, hessian_vector_product, paper_eta
from numerics.linear import activity_hessian, constraint_matrix, kkt_matrix, readout_matrix
from numerics.residual import residual_effective_weights, residual_scales, residual_weight_grads
from numerics.saddle import FixedPointSolve, nonlinear_saddle, solve_fixed_point
from numerics.schedule import (
    largest_stable_alpha,
    largest_stable_eta,
    outer_iteration,
    run_schedule,
    schedule_map,
    schedule_radius_error_bound,
    schedule_spectral_radius,
)
from numerics.schedule_jacobian import outer_iteration_jacobian, spectral_radius_at

__all__ = [
    "BPResult",
    "FixedPointSolve",
    "FlowResult",
    "InferenceState",
    "activity_grads",
    "activity_hessian",
    "bp_gradients",
    "complex_step_gradient",
    "constraint_matrix",
    "effective_errors",
    "errors",
    "feedforward",
    "flow_eigenvalues",
    "flow_jacobian",
    "hessian_lambda_max",
    "hessian_lambda_max_power",
    "hessian_vector_product",
    "integrate_flow",
    "kkt_matrix",
    "lagrangian",
    "largest_stable_alpha",
    "largest_stable_eta",
    "linear_equilibrium",
    "multiplier_grads",
    "nonlinear_saddle",
    "solve_fixed_point",
    "outer_iteration",
    "outer_iteration_jacobian",
    "paper_eta",
    "pc_free_energy",
    "readout_matrix",
    "residual_effective_weights",
    "residual_scales",
    "residual_weight_grads",
    "run_schedule",
    "schedule_map",
    "schedule_radius_error_bound",
    "schedule_spectral_radius",
    "spectral_radius_at",
    "weight_grads",
]
