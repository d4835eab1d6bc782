"""JSON form of the result dataclasses: arrays become nested lists."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """Arrays to lists, NumPy scalars to Python numbers, recursively through dataclasses,
    dicts, lists and tuples."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


class JSONResult:
    """Mixin for result dataclasses: ``to_dict()`` returns a ``json.dumps``-ready dict."""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)
