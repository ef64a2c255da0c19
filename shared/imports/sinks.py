"""Turning read rows into records of a destination table, with the destination's own checks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from shared.imports.records import Rejection, SourceRow
from shared.imports.validation import MAX_KEY_CHARS
from shared.models import Project

Record = tuple[Any, ...]
Converter = Callable[[list[SourceRow], bool], tuple[list[Record], list[Rejection]]]


def unit_key(row: SourceRow) -> str:
    """A TM unit's identity: its tuid, or `#` + md5 of source language and both texts when it has none."""
    if row[2] is not None:
        return row[2]
    digest = hashlib.md5(f"{row[3]}\x1f{row[5]}\x1f{row[6]}".encode(), usedforsecurity=False).hexdigest()
    return "#" + digest


def tm_units_converter(translation_memory_id: str) -> Converter:
    """Records for `tm_units` (see `tm_units_destination` for the column order)."""

    def convert(rows: list[SourceRow], staged: bool) -> tuple[list[Record], list[Rejection]]:
        rejections = [
            Rejection(row[1], f"the tuid is longer than {MAX_KEY_CHARS} characters", row[2][:40])
            for row in rows
            if row[2] is not None and len(row[2]) > MAX_KEY_CHARS
        ]
        if rejections:
            rows = [row for row in rows if row[2] is None or len(row[2]) <= MAX_KEY_CHARS]
        tm = translation_memory_id
        if staged:
            records: list[Record] = [
                (r[0], r[1], tm, r[2] or unit_key(r), r[3], r[4], r[5], r[6], r[7], r[9], r[8], r[10], r[11])
                for r in rows
            ]
        else:
            records = [
                (tm, r[2] or unit_key(r), r[3], r[4], r[5], r[6], r[7], r[9], r[8], r[10], r[11])
                for r in rows
            ]
        return records, rejections

    return convert


def translations_converter(project: Project) -> Converter:
    """Records for `translations`: rows need a key and the project's languages."""
    project_id, source_language = project.id, project.source_language
    targets = frozenset(project.target_languages)
    target_list = ", ".join(project.target_languages)

    def convert(rows: list[SourceRow], staged: bool) -> tuple[list[Record], list[Rejection]]:
        records: list[Record] = []
        rejections: list[Rejection] = []
        for r in rows:
            key = r[2]
            if key is None:
                rejections.append(
                    Rejection(r[1], "the row has no key (translations are identified by their key)")
                )
            elif len(key) > MAX_KEY_CHARS:
                rejections.append(
                    Rejection(r[1], f"the key is longer than {MAX_KEY_CHARS} characters", key[:40])
                )
            elif r[3] != source_language:
                rejections.append(
                    Rejection(r[1], f"{r[3]} is not the project's source language ({source_language})", key)
                )
            elif r[4] not in targets:
                rejections.append(
                    Rejection(
                        r[1], f"{r[4]} is not one of the project's target languages ({target_list})", key
                    )
                )
            elif staged:
                records.append((r[0], r[1], project_id, key, r[3], r[4], r[5], r[6], r[7], r[8]))
            else:
                records.append((project_id, key, r[3], r[4], r[5], r[6], r[7], r[8]))
        return records, rejections

    return convert
