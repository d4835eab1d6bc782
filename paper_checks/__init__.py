"""paper_checks: one module per claim C1..C8 of DESIGN section 4, each returning a Verdict.

``run_checks`` runs a selection; ``write_results`` writes ``results.json`` and ``report.md``.
``pcalm check`` is a thin front to both.
"""

from paper_checks.report import write_results
from paper_checks.run import run_checks
from paper_checks.verdict import CheckContext, Criterion, Verdict

__all__ = ["CheckContext", "Criterion", "Verdict", "run_checks", "write_results"]
