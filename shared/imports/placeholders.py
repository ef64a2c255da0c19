"""Placeholders and tags a translation must carry over from its source, and the check that it does.

Placeholders: printf (`%s`, `%1$d`, `%(name)s`), braces (`{0}`, `{name}`, `{0:N2}`, `{{name}}`) and ICU
arguments (`{count, plural, one {# file} other {# files}}`: the argument and its type must match, and
the placeholders inside the branches must match as a set, since languages have different branches).
Tags: HTML/XML tags by name (attributes may be translated) and the TMX inline placeholders (`⟦b1⟧`)
that imports leave in the text. Order may differ between languages; counts may not.
"""

from __future__ import annotations

import re
from collections import Counter

from shared.imports.markup import placeholders as markup_placeholders

PRINTF = re.compile(
    r"%%|%(?:\(\w+\)|\d+\$)?[-+0#']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcsp@]"
)
DOUBLE_BRACE = re.compile(r"\{\{\s*[\w.-]+\s*\}\}")
SIMPLE_BRACE = re.compile(r"\{\s*(\w+)\s*(?::[^{}]*)?\}")
BRACE = re.compile(r"[{}]")
TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)[^<>]*?(/?)>")
ICU_TYPES = ("plural", "select", "selectordinal", "number", "date", "time", "spellout", "ordinal", "duration")


def _bodies(text: str) -> list[str] | None:
    """The bodies of the top-level `{...}` groups; None when braces do not balance."""
    bodies: list[str] = []
    depth = 0
    start = 0
    for match in BRACE.finditer(text):
        if match.group() == "{":
            if depth == 0:
                start = match.end()
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                return None
            if depth == 0:
                bodies.append(text[start : match.start()])
    return bodies if depth == 0 else None


def _collect(text: str, tokens: Counter[str], nested: set[str]) -> bool:
    """Count the text's brace arguments into `tokens` and ICU branch arguments into `nested`."""
    bodies = _bodies(text)
    if bodies is None:
        return False
    for body in bodies:
        name, comma, rest = body.partition(",")
        if not comma:
            simple = SIMPLE_BRACE.fullmatch("{" + body + "}")
            tokens["{" + (simple.group(1) if simple else body.strip()) + "}"] += 1
            continue
        kind = rest.split(",", 1)[0].strip()
        tokens[f"{{{name.strip()},{kind if kind in ICU_TYPES else '?'}}}"] += 1
        # Branch texts differ in number between languages: their arguments are compared as a set.
        for branch in _bodies(rest) or []:
            inner: Counter[str] = Counter()
            _collect(branch, inner, nested)
            nested.update(inner)
    return True


def placeholder_signature(text: str) -> tuple[Counter[str], set[str]] | None:
    """(top-level placeholders with counts, those inside ICU branches); None if braces do not balance."""
    tokens: Counter[str] = Counter()
    nested: set[str] = set()
    if "%" in text:
        tokens.update(match for match in PRINTF.findall(text) if match != "%%")
    if "{" in text or "}" in text:
        if "{{" in text:
            tokens.update(re.sub(r"\s+", "", match) for match in DOUBLE_BRACE.findall(text))
            text = DOUBLE_BRACE.sub("", text)
        if not _collect(text, tokens, nested):
            return None
    return tokens, nested


def tag_signature(text: str) -> Counter[str]:
    """Tags by name (`<b>`, `</b>`, `<br/>`) and TMX inline placeholders, with counts."""
    tags: Counter[str] = Counter()
    if "<" in text:
        tags.update(f"<{close}{name.lower()}{empty}>" for close, name, empty in TAG.findall(text))
    if "⟦" in text:
        tags.update(markup_placeholders(text))
    return tags


def _describe(source: Counter[str], target: Counter[str], what: str) -> str:
    missing = sorted((source - target).elements())
    extra = sorted((target - source).elements())
    parts = []
    if missing:
        parts.append(f"{what} {', '.join(missing[:5])} of the source missing from the target")
    if extra:
        parts.append(f"target has extra {what} {', '.join(extra[:5])}")
    return "; ".join(parts)


_PLAIN_BRACE = re.compile(r"\{\w+\}")


def _plain_braces_agree(source: str, target: str) -> bool:
    """The common case, decided cheaply: only `{name}` placeholders, the same ones on both sides."""
    if "%" in source or "%" in target:
        return False
    source_found, target_found = _PLAIN_BRACE.findall(source), _PLAIN_BRACE.findall(target)
    return (
        source.count("{") == source.count("}") == len(source_found)
        and target.count("{") == target.count("}") == len(target_found)
        and sorted(source_found) == sorted(target_found)
    )


def placeholder_problem(source: str, target: str) -> str | None:
    """Why the target's placeholders do not match the source's, or None when they do."""
    if _plain_braces_agree(source, target):
        return None
    source_signature = placeholder_signature(source)
    target_signature = placeholder_signature(target)
    if source_signature is None or target_signature is None:
        which = "source" if source_signature is None else "target"
        return f"unbalanced braces in the {which}"
    (source_tokens, source_nested), (target_tokens, target_nested) = source_signature, target_signature
    if source_tokens != target_tokens:
        return _describe(source_tokens, target_tokens, "placeholder(s)")
    if source_nested != target_nested:
        return _describe(Counter(source_nested), Counter(target_nested), "ICU branch placeholder(s)")
    return None


def tag_problem(source: str, target: str) -> str | None:
    """Why the target's tags do not match the source's, or None when they do."""
    source_tags, target_tags = tag_signature(source), tag_signature(target)
    if source_tags == target_tags:
        return None
    return _describe(source_tags, target_tags, "tag(s)")
