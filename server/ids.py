"""Ids as this server writes them, parsed in one place, so that an access check and a lookup read one number.

A URL or a project's `dataset` carries an id as text. Python's int() and pydantic read '+7', '7.0', '07',
'7_0' and ' 7' as numbers too; a check that skipped such a spelling while the lookup accepted it let a caller
reach another user's run or upload. Only the spelling the server itself writes counts as an id.
"""

from __future__ import annotations

#: Ids are 32-bit on PostgreSQL: a larger one is refused by name, not by the database.
MAX_ID = 2**31 - 1
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(text: str) -> int | None:
    """The id `text` spells ('7'), or None for anything else ('07', '+7', '7.0', ' 7', '٧', 0, > MAX_ID)."""
    if not (text.isascii() and text.isdigit()) or text[0] == "0" or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if value <= MAX_ID else None
