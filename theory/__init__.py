"""SymPy derivations of the linear fixed points of PC and PC-ALM (DESIGN sections 2-4, C1-C3).

Imports nothing else of the project. Modules, one job each:

- ``network``: symbolic linear networks (scalar chains, small matrix nets), one sample.
- ``objectives``: ``L_rho``, PC's energy, BP's loss, their gradients and local rules.
- ``equilibria``: exact solutions of the stationarity systems of PC and PC-ALM.
- ``exact_bp`` (C1), ``pc_gap`` (C3), ``stability`` (C2, Routh-Hurwitz): explicit networks.
- ``block_form``: general depth with matrix symbols (C1 by induction, C2 by ``J + J^T``).
- ``hurwitz``: Hurwitz minors and AM-GM positivity certificates; ``checks``, ``matcalc``: helpers.
- ``run``: :func:`run_all`; ``report``: Markdown; ``__main__``: ``python -m theory``.

Every derivation returns a :class:`DerivationResult` whose verdict ("holds"/"fails") is computed.
"""

from theory.result import DerivationResult, Step
from theory.run import run_all

__all__ = ["DerivationResult", "Step", "run_all"]
