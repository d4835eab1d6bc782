"""The conv example of docs/models.md runs as written and trains."""

from __future__ import annotations

import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[3] / "docs" / "models.md"


def test_the_conv_example_of_the_docs_runs_and_steps_every_parameter(capsys):
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    net, result = namespace["net"], namespace["result"]
    assert [len(g) for g in result.param_grads] == [2, 2, 2]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in net.parameters())
    assert "[2, 2, 2]" in capsys.readouterr().out
