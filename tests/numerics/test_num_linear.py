"""The assembled per-sample matrices equal the Jacobians of the local rules (DESIGN C1, C2).

For a linear net the saddle residual is affine, so its Jacobian column j is exactly
``residual(e_j) - residual(0)`` (with x = 0, y = 0 the constant vanishes). The assembled
KKT matrix, flow Jacobian and Hessian must match these columns to roundoff: tolerance
1e-12 times the largest entry (float64, sums of at most a few dozen products).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given

from numerics import activity_hessian, flow_jacobian, hessian_vector_product, kkt_matrix
from numerics.kkt import saddle_residual
from tests.numerics.numerics_nets import nets, rhos


def _residual_jacobian(net, rho) -> np.ndarray:
    n2 = 2 * sum(w.shape[0] for w in net.weights[:-1])
    x = np.zeros((n2, net.weights[0].shape[1]))
    y = np.zeros((n2, net.weights[-1].shape[0]))
    return saddle_residual(net.weights, x, y, np.eye(n2), rho).T  # row j = residual(e_j)


@given(nets(min_depth=2), rhos())
def test_kkt_and_flow_matrices_are_jacobians_of_the_local_rules(net, rho):
    jac = _residual_jacobian(net, rho)
    n = jac.shape[0] // 2
    scale = np.abs(jac).max()
    np.testing.assert_allclose(kkt_matrix(net.weights, rho).toarray(), jac, rtol=0, atol=1e-12 * scale)
    flow = np.vstack([-jac[:n], jac[n:]])  # dz/dt = -dL/dz, dlam/dt = +dL/dlam
    np.testing.assert_allclose(flow_jacobian(net.weights, rho), flow, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(flow_jacobian(net.weights, rho, "pc"), -jac[:n, :n], rtol=0, atol=1e-12 * scale)
    hess = activity_hessian(net.weights, rho).toarray()
    np.testing.assert_allclose(hess, jac[:n, :n], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(hessian_vector_product(net.weights, np.eye(n), rho), hess, rtol=0, atol=1e-12 * scale)
    assert np.linalg.eigvalsh(hess)[0] > 0  # H positive definite for rho > 0 (A invertible)
