"""Repairs for two common hand-written JSON mistakes (as in shell ``curl --data "..."``).

In bash, ``\\'`` inside double quotes stays a literal backslash-quote, so a body typed as
``"content": "what\\'s up"`` reaches us with the invalid JSON escape ``\\'``; and snippets
often leave a trailing comma before ``}`` or ``]``. :func:`repair` fixes exactly these two
mistakes and nothing else; the caller decodes the result strictly again.
"""

from __future__ import annotations

import re

__all__ = ["repair"]

_WHITESPACE = b" \t\n\r"
_IN_STRING = re.compile(rb'["\\]')  # the end of a string, or an escape
_OUTSIDE = re.compile(rb'[",]')  # the start of a string, or a comma


def _after_value(out: bytearray) -> bool:
    """Whether ``out`` ends with a value (so a comma there is a trailing one, not ``{,}``)."""
    k = len(out) - 1
    while k >= 0 and out[k] in _WHITESPACE:
        k -= 1
    return k >= 0 and out[k] not in b"{[,:"


def repair(raw: bytes) -> bytes:
    """``raw`` with ``\\'`` turned into ``'`` inside strings and trailing commas dropped.

    One pass that tracks whether it is inside a string: inside strings, ``\\'`` becomes
    ``'`` (other escapes are copied as they are); outside strings, a comma followed only by
    whitespace and then ``}`` or ``]`` is dropped when it follows a value (``{,}`` stays
    invalid). Everything else is copied unchanged.
    """
    out = bytearray()
    i = 0
    n = len(raw)
    in_string = False
    while i < n:
        m = (_IN_STRING if in_string else _OUTSIDE).search(raw, i)
        if m is None:
            out += raw[i:]
            break
        j = m.start()
        out += raw[i:j]
        ch = raw[j]
        if ch == 0x22:  # '"'
            out.append(ch)
            in_string = not in_string
            i = j + 1
        elif ch == 0x5C:  # '\\' (only searched for inside strings)
            nxt = raw[j + 1 : j + 2]
            out += b"'" if nxt == b"'" else raw[j : j + 2]
            i = j + 2
        else:  # ',' outside a string
            k = j + 1
            while k < n and raw[k] in _WHITESPACE:
                k += 1
            if k >= n or raw[k] not in b"}]" or not _after_value(out):
                out.append(ch)
            i = j + 1
    return bytes(out)
