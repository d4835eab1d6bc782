"""Continuous primal-dual flow (DESIGN C2)."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from numerics import flow_eigenvalues, integrate_flow, linear_equilibrium
from numerics.kkt import join_state
from tests.numerics.numerics_nets import fewer_examples, make_net, nets, rhos


@given(nets(min_depth=2), rhos())
def test_flow_eigenvalues_have_negative_real_part(net, rho):
    """C2: every eigenvalue of [[-H, -A^T], [A, 0]] (and of PC's -H) has Re < 0 for rho > 0.
    Observed max Re over 200 random nets: -1.7e-7, while the eigenvalue roundoff is
    ~u ||J|| ~ 1e-13, so a strict ``< 0`` is meaningful."""
    assert flow_eigenvalues(net.weights, rho).real.max() < 0
    assert flow_eigenvalues(net.weights, rho, "pc").real.max() < 0


@fewer_examples(0.16)  # one implicit ODE solve per method per example (~1-3 s)
@given(nets(min_depth=2, max_depth=4, max_width=4, max_batch=3, min_scale=0.5, max_scale=1.5), rhos(0.3, 3.0))
def test_flow_converges_to_the_equilibrium(net, rho):
    """The flow from the canonical start reaches ``linear_equilibrium`` (both methods).
    Time: 40 / |max Re lambda|, so the slowest mode has decayed by e^-40 ~ 4e-18. Tolerance
    1e-7 relative: Radau at rtol 1e-9 (the equilibrium is attracting, so local errors do
    not accumulate); gains 0.5-1.5 keep the stiffness moderate so the test stays fast."""
    for method in ("pc-alm", "pc"):
        t_final = 40.0 / abs(flow_eigenvalues(net.weights, rho, method).real.max())
        flow = integrate_flow(net.weights, net.x, net.y, t_final, method, rho, rtol=1e-9, atol=1e-11)
        assert flow.success
        exact = linear_equilibrium(net.weights, net.x, net.y, method, rho)
        batch = net.x.shape[0]
        target = join_state(exact.z, exact.lam, batch)
        error = np.linalg.norm(join_state(flow.z, flow.lam, batch) - target)
        assert error <= 1e-7 * np.linalg.norm(target)


def test_flow_is_not_converged_early():
    """The convergence check can fail: at 1/40 of the time above the flow is still far from
    the equilibrium (distance > 1e-3 relative)."""
    net = make_net([3, 4, 4, 2], 2, 1.0, 3)
    t_final = 1.0 / abs(flow_eigenvalues(net.weights).real.max())
    flow = integrate_flow(net.weights, net.x, net.y, t_final)
    exact = linear_equilibrium(net.weights, net.x, net.y)
    target = join_state(exact.z, exact.lam, 2)
    assert np.linalg.norm(join_state(flow.z, flow.lam, 2) - target) > 1e-3 * np.linalg.norm(target)
