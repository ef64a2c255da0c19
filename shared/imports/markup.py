"""Inline markup as stable placeholders: `⟦b1⟧bold⟦e1⟧`, `⟦p2⟧`.

Importers replace the formats' inline codes (TMX `bpt`/`ept`/`ph`/`it`/`hi`/`ut`, XLIFF `g`/`x`/`bx`/
`ex`/`pc`/`sc`/`ec`/`ph`) with a placeholder whose kind is `b` (opens a pair), `e` (closes it) or `p`
(stands alone) and whose id comes from the file (`i`, `x`, `id`, `rid`) or, failing that, from the
code's position. The native code behind each placeholder is kept beside the text (`markup`), so a
dataset can keep the placeholders, strip them, or put the original codes back, and can check that a
source and its target carry the same ones.
"""

from __future__ import annotations

import re
from collections import Counter

OPEN, CLOSE = "⟦", "⟧"
PLACEHOLDER = re.compile(r"⟦[bep][A-Za-z0-9_.:-]{1,32}⟧")
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,32}")


def placeholder(kind: str, code_id: str | None, ordinal: int) -> str:
    """The placeholder for one inline code; ids the file gives are used when they are safe to show."""
    if code_id is None or not _SAFE_ID.fullmatch(code_id):
        code_id = str(ordinal)
    return f"{OPEN}{kind}{code_id}{CLOSE}"


def strip_markup(text: str) -> str:
    """The text without its placeholders."""
    return PLACEHOLDER.sub("", text) if OPEN in text else text


def placeholders(text: str) -> Counter[str]:
    """Each placeholder in the text and how often it occurs."""
    return Counter(PLACEHOLDER.findall(text)) if OPEN in text else Counter()


def markup_agrees(source_text: str, target_text: str) -> bool:
    """Whether source and target carry the same placeholders (order may differ between languages)."""
    return placeholders(source_text) == placeholders(target_text)


def restore_markup(text: str, codes: dict[str, str]) -> str:
    """The text with each placeholder replaced by its native code (unknown placeholders are kept)."""
    if OPEN not in text:
        return text
    return PLACEHOLDER.sub(lambda match: codes.get(match.group(0), match.group(0)), text)
