"""Alert text made inert for st2's template engines.

st2 renders Jinja (``{{ }}``, ``{% %}``, ``{# #}``) in every string of an
action's parameters, nested ones included, and Orquesta evaluates YAQL
(``<% %>``) and Jinja in workflow input and evaluates a string result once
more. An alert label like ``{{ st2kv.system.token | decrypt_kv }}`` would
otherwise be run with st2's datastore in reach, or fail the workflow that
records the alert. So every string of a delivery has its delimiters split
by a space (``{{`` becomes ``{ {``) before anything else sees it: the text
still reads the same to a person, and no engine finds an expression in it.
"""

from __future__ import annotations

import re
from typing import Match

_DELIMITER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|<%|%>")


def _split(match: Match[str]) -> str:
    pair = match.group(0)
    return pair[0] + " " + pair[1]


def inert(text: str) -> str:
    """``text`` without a template delimiter (unchanged when it has none)."""
    while _DELIMITER.search(text):  # "{{{" needs two passes
        text = _DELIMITER.sub(_split, text)
    return text
