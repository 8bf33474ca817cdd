"""Small text helpers for messages."""
from __future__ import annotations

from typing import Sequence


def first_few(items: Sequence[str], limit: int = 5) -> str:
    """The first `limit` items and how many more ("a, b, c, d, e and 12 more")."""
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
