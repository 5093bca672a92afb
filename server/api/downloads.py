"""The Content-Disposition header of a download, safe for any name a user chose.

HTTP headers are Latin-1: a metric key such as "损失" put straight into ``filename="…"`` made Starlette fail
to encode the header (a 500). The header carries an ASCII fallback and the exact name in RFC 6266's
``filename*`` (UTF-8, percent-encoded), which browsers prefer.
"""

from __future__ import annotations

from urllib.parse import quote


def ascii_name(name: str) -> str:
    """Letters, digits, '-', '_' and '.' of ASCII kept, anything else an underscore."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in name)


def attachment(filename: str) -> dict[str, str]:
    """Headers that make a browser save the body as ``filename``."""
    fallback = ascii_name(filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return {"Content-Disposition": value}
