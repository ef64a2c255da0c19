"""Normalising a row's texts and the filters that drop a row, each with its reason code.

Called once per row on a million rows, so each check has a fast path for the common case (plain
NFC text, no placeholders) and only the rare row pays for regular expressions.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate

from shared.datasets.reasons import Reason
from shared.datasets.recipe import Cleaning
from shared.imports.markup import OPEN, strip_markup
from shared.imports.placeholders import placeholder_problem, tag_problem

# Whitespace other than single spaces between words: runs, tabs, odd Unicode spaces, spaces at line
# ends. No-break spaces (U+00A0, U+202F) are typography (French « a »), not noise: they are kept.
_SPACE_RUN = re.compile(r"[^\S\n\u00a0\u202f]+")
_LETTER = re.compile(r"[^\W\d_]")
_is_nfc = unicodedata.is_normalized
_to_nfc = unicodedata.normalize


def normalise_whitespace(text: str) -> str:
    """Trim, turn CR/CRLF and Unicode line separators into LF, collapse other space runs to one space."""
    text = text.strip()
    # Fast path: `isprintable` is False for every whitespace character but the ASCII space.
    if text.isprintable() and "  " not in text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    lines = (_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(lines)


def normaliser(options: Cleaning) -> Callable[[str], str]:
    """The text normalisation the recipe asks for, as one function."""
    unicode, whitespace = options.normalize_unicode, options.normalize_whitespace
    if unicode and whitespace:

        def normalise(text: str) -> str:
            if not _is_nfc("NFC", text):
                text = _to_nfc("NFC", text)
            text = text.strip()
            if text.isprintable() and "  " not in text:
                return text
            return normalise_whitespace(text)

        return normalise
    if unicode:
        return lambda text: text if _is_nfc("NFC", text) else _to_nfc("NFC", text)
    if whitespace:
        return normalise_whitespace
    return lambda text: text


def has_letter(text: str) -> bool:
    return bool(text[:1].isalpha()) or _LETTER.search(text) is not None


RowFilter = Callable[[str, str, bool], tuple[Reason, str] | None]
# A text with none of these characters has no placeholder or tag to check.
_MARKUP = re.compile("[{}%<" + OPEN + "]")
_MARKUP_TO_LINE_END = re.compile("[{}%<" + OPEN + "][^\n]*")  # one match per marked line, not per character
_PLACEHOLDER = re.compile("[{}%]")


def row_filter(options: Cleaning) -> RowFilter:
    """`check(source, target, may_have_markup)`: the first filter a normalised row fails, or None."""
    drop_identical, min_chars = options.drop_identical, options.length_ratio_min_chars
    min_ratio, max_ratio, placeholders = (
        options.min_length_ratio,
        options.max_length_ratio,
        options.check_placeholders,
    )

    def check(source: str, target: str, may_have_markup: bool) -> tuple[Reason, str] | None:
        if not source:
            return Reason.EMPTY_SOURCE, "empty source"
        if not target:
            return Reason.EMPTY_TARGET, "empty target"
        if not target[0].isalpha() and not has_letter(_bare(target)) and has_letter(_bare(source)):
            return Reason.UNTRANSLATED, "target has no letters"
        if drop_identical and target == source:
            return Reason.TARGET_EQUALS_SOURCE, "target equals source"
        source_length, target_length = len(source), len(target)
        if source_length >= min_chars or target_length >= min_chars:
            ratio = target_length / source_length
            if ratio < min_ratio or ratio > max_ratio:
                return (
                    Reason.LENGTH_RATIO,
                    f"target/source length ratio {ratio:.2f} ({target_length}/{source_length})",
                )
        if placeholders and may_have_markup:
            if _PLACEHOLDER.search(source) or _PLACEHOLDER.search(target):
                problem = placeholder_problem(source, target)
                if problem is not None:
                    return Reason.PLACEHOLDER_MISMATCH, problem
            if "<" in source or "<" in target or OPEN in source or OPEN in target:
                problem = tag_problem(source, target)
                if problem is not None:
                    return Reason.TAG_MISMATCH, problem
        return None

    return check


def row_problem(source: str, target: str, options: Cleaning) -> tuple[Reason, str] | None:
    """The first filter a normalised row fails, with a detail for the rejects list; None if it passes."""
    return row_filter(options)(source, target, True)


# Joins a chunk of texts to check them at once; a printable, non-space, never-composing starter.
_SEPARATOR = "\u00a6"
CHUNK_TEXTS = 256


def normalise_all(texts: list[str], normalise: Callable[[str], str], options: Cleaning) -> list[str]:
    """Normalise many texts; a chunk of texts already normal (the usual case) is checked in one go."""
    if not options.normalize_unicode and not options.normalize_whitespace:
        return texts
    normalised: list[str] = []
    for start in range(0, len(texts), CHUNK_TEXTS):
        chunk = texts[start : start + CHUNK_TEXTS]
        joined = _SEPARATOR.join(chunk)
        if (not options.normalize_unicode or _is_nfc("NFC", joined)) and (
            not options.normalize_whitespace
            or (
                joined.isprintable()
                and "  " not in joined
                and " \u00a6" not in joined
                and "\u00a6 " not in joined
                and joined[:1] != " "
                and joined[-1:] != " "
            )
        ):
            normalised += chunk
        else:
            normalised += map(normalise, chunk)
    return normalised


def rows_with_markup(sources: list[str], targets: list[str]) -> set[int]:
    """Positions of the rows whose source or target has a placeholder or tag character (found in one scan)."""
    found: set[int] = set()
    for texts in (sources, targets):
        # Joined with newlines (never a markup character), each match's row is its line number.
        joined = "\n".join(texts)
        if _MARKUP.search(joined) is None:
            continue
        ends = list(accumulate(len(text) + 1 for text in texts))
        found.update(bisect_right(ends, match.start()) for match in _MARKUP_TO_LINE_END.finditer(joined))
    return found


def _bare(text: str) -> str:
    """The text without placeholders and inline markup (what is left to translate)."""
    text = strip_markup(text)
    return re.sub(r"\{[^{}]*\}|%\w", "", text) if "{" in text or "%" in text else text
