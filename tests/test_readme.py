"""The README's library snippet runs as written and trains (its optimizer step moves the
weights), and the README stays a newcomer's page (at most 150 lines)."""

from __future__ import annotations

from pathlib import Path

import torch

import pcalm

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order."""
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_the_readmes_library_snippet_runs_and_steps_the_weights(one_thread):
    (snippet,) = _python_blocks(README.read_text())
    namespace: dict[str, object] = {}
    exec(compile(snippet, str(README), "exec"), namespace)
    model, result = namespace["model"], namespace["result"]
    untrained = pcalm.ResidualMLP(input_dim=64, width=32, depth=32, output_dim=10, activation="relu", seed=0)
    assert isinstance(result, pcalm.InferenceResult) and len(result.weight_grads) == 32
    assert all(p.grad is not None for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), untrained.parameters()))  # Adam stepped


def test_the_readme_stays_short():
    assert len(README.read_text().splitlines()) <= 150
