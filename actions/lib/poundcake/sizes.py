"""How large one trigger payload or one stored value may be, and splitting to stay under it.

st2 keeps a trigger instance and a datastore value each as one MongoDB
document (16 MB at most; st2api, the message bus and the rules engine handle
the whole of it at once). The pack keeps every document it makes at
:data:`MAX_DOCUMENT_BYTES` of JSON or less, however large the delivery:
a list that would be larger goes out in parts, and one item that alone is
larger (an alert with megabytes of labels) is cut down by :func:`shrink`.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Sequence, TypeVar

MAX_DOCUMENT_BYTES = 1_000_000
# A string value longer than this is cut when an item alone would pass the bound.
MAX_VALUE_CHARS = 1024
CUT_MARK = "…(cut by PoundCake: too long)"

T = TypeVar("T")


def size(doc: Any) -> int:
    """Bytes of ``doc`` as compact JSON, as the pack stores it (non-ASCII
    escaped: at least its UTF-8 size, which is what st2 and MongoDB hold)."""
    return len(json.dumps(doc, separators=(",", ":")))


def split(
    items: Sequence[T], bound: int = MAX_DOCUMENT_BYTES, base: int = 0, measure=size
) -> List[List[T]]:
    """``items`` in consecutive parts whose JSON list, plus ``base`` bytes of
    the document around it, stays at ``bound`` or less (an empty list gives
    no part). An item that alone does not fit gets a part of its own: make
    it fit first with :func:`shrink`."""
    parts: List[List[T]] = []
    current: List[T] = []
    used = base + 2  # the list's brackets
    for item in items:
        cost = measure(item) + 1  # and its comma
        if current and used + cost > bound:
            parts.append(current)
            current, used = [], base + 2
        current.append(item)
        used += cost
    if current:
        parts.append(current)
    return parts


def shrink(item: Dict[str, Any], bound: int, drop: Sequence[str] = ()) -> Dict[str, Any]:
    """``item`` itself when it fits in ``bound`` bytes; else a copy with every
    string longer than :data:`MAX_VALUE_CHARS` cut (values of nested objects
    too), then without the keys ``drop`` names (emptied), then with its
    objects' entries beyond those that fit left out, marked ``"cut": true``."""
    if size(item) <= bound:
        return item
    cut = cut_strings(item)
    for key in drop:
        if size(cut) <= bound:
            break
        if key in cut:
            cut[key] = type(cut[key])()
    for key, value in list(cut.items()):
        if size(cut) > bound and isinstance(value, dict):
            cut[key] = _fewer(value, lambda d, k=key: size({**cut, k: d}) <= bound)
    cut["cut"] = True
    return cut


def cut_strings(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + CUT_MARK
    if isinstance(value, dict):
        return {cut_strings(k): cut_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cut_strings(v) for v in value]
    return value


def _fewer(entries: Dict[str, Any], fits: Callable[[Dict[str, Any]], bool]) -> Dict[str, Any]:
    """The most leading entries of ``entries`` that still fit (a binary search)."""
    items = list(entries.items())
    low, high = 0, len(items)
    while low < high:
        mid = (low + high + 1) // 2
        if fits(dict(items[:mid])):
            low = mid
        else:
            high = mid - 1
    return dict(items[:low])
