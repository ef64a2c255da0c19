"""XLIFF 1.2 and 2.x, streamed with expat: one row per unit that is approved (or any, on request).

1.2: a `trans-unit` counts as approved when `approved="yes"` or its target's `state` is `final` or
`signed-off`; the key is its `resname`, else its `id`; languages come from `<file>` (or the target's
`xml:lang`). 2.x: a `unit` counts as approved when every segment is `state="final"`; its segments and
ignorables are joined in order; the key is its `name`, else its `id`; languages come from the root's
`srcLang`/`trgLang`. An approved unit's approval time is its 1.2 `<file>`'s `date`, else the time the
file was received (a dataset trains only on translations with an approval time). `alt-trans`,
`seg-source` and foreign-namespace elements are ignored; inline codes become placeholders (see
`shared.imports.markup`), their native data kept beside the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from shared.imports.languages import InvalidLanguage, normalise_language
from shared.imports.markup import placeholder
from shared.imports.records import Batch, ImportFileError, Rejection, SourceRow, to_json
from shared.imports.tmx import parse_tmx_date
from shared.imports.xmlsafe import feed, safe_parser

NAMESPACES = ("urn:oasis:names:tc:xliff:document:1.2", "urn:oasis:names:tc:xliff:document:2.0")
XML_LANG = "http://www.w3.org/XML/1998/namespace lang"
APPROVED_STATES_1 = {"final", "signed-off"}
# Inline elements: (kind of placeholder, attribute holding its id) by XLIFF version.
PAIRED = {"g": "id", "pc": "id"}
STANDALONE = {"x": "id", "ph": "id", "bx": "rid", "ex": "rid", "sc": "id", "ec": "startRef", "it": "id"}
NATIVE_1 = {"bpt", "ept", "ph", "it"}  # 1.2 codes whose content is native markup
_KIND = {"x": "p", "ph": "p", "bx": "b", "ex": "e", "sc": "b", "ec": "e", "bpt": "b", "ept": "e", "it": "b"}


@dataclass
class _Text:
    """A `source` or `target` being read: its text, its codes and the pairs still open."""

    parts: list[str] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)
    open_pairs: list[str] = field(default_factory=list)
    ordinals: int = 0
    state: str | None = None
    language: str | None = None

    def token(self, kind: str, code_id: str | None) -> str:
        self.ordinals += 1
        return placeholder(kind, code_id, self.ordinals)


class _XliffReader:
    def __init__(
        self, include_unapproved: bool, max_segment_chars: int, received_at: datetime | None
    ) -> None:
        self.parser = parser = safe_parser(namespaces=True)
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data
        self.include_unapproved = include_unapproved
        self.max_segment_chars = max_segment_chars
        self.rows: list[SourceRow] = []
        self.rejections: list[Rejection] = []
        self.skipped = 0
        self.ordinal = 0
        self.version = 0
        self.root_seen = False
        self.stack: list[str] = []
        self.source_language: str | None = None
        self.target_language: str | None = None
        self.received_at = received_at
        self.file_date: datetime | None = None
        self.unit: dict[str, str] | None = None
        self.unit_line = 0
        self.sources: list[_Text] = []
        self.targets: list[_Text] = []
        self.segment_states: list[str] = []
        self.segment_has_target: list[bool] = []
        self.notes: list[str] = []
        self.original_data: dict[str, str] = {}
        self.text: _Text | None = None
        self.native: list[str] | None = None  # content of a native code (1.2 bpt/ept/ph/it, 2.x data/note)
        self.native_token = ""
        self.native_depth = 0
        self.problem: str | None = None

    def local(self, name: str) -> str:
        namespace, _, local = name.rpartition(" ")
        return local if not namespace or namespace in NAMESPACES else "#foreign"

    # -- expat callbacks -------------------------------------------------------------------------

    def data(self, content: str) -> None:
        if self.native is not None:
            self.native.append(content)
        elif self.text is not None:
            self.text.parts.append(content)

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = self.local(name)
        parent = self.stack[-1] if self.stack else ""
        self.stack.append(local)
        if self.native is not None:
            self.native_depth += 1
        elif self.text is not None:
            self.inline_start(local, attributes)
        elif not self.root_seen:
            self.root(local, attributes)
        elif local in ("trans-unit", "unit"):
            self.unit = attributes
            self.unit_line = self.parser.CurrentLineNumber
            self.sources, self.targets, self.notes = [], [], []
            self.segment_states, self.segment_has_target = [], []
            self.original_data = {}
            self.problem = None
        elif self.unit is None:
            if local == "file" and self.version == 1:
                self.source_language = attributes.get("source-language", self.source_language)
                self.target_language = attributes.get("target-language", self.target_language)
                self.file_date = _file_date(attributes.get("date"))
        elif local in ("source", "target") and parent in ("trans-unit", "segment", "ignorable"):
            self.text = _Text(state=attributes.get("state"), language=attributes.get(XML_LANG))
            (self.sources if local == "source" else self.targets).append(self.text)
            if local == "target" and self.segment_has_target:
                self.segment_has_target[-1] = True
        elif local in ("segment", "ignorable"):
            # An ignorable (whitespace between segments) is never unapproved.
            self.segment_states.append(attributes.get("state", "initial") if local == "segment" else "final")
            self.segment_has_target.append(False)
        elif local == "note" and parent in ("trans-unit", "notes"):
            self.begin_native("#note")
        elif local == "data" and parent == "originalData":
            self.begin_native("#data:" + attributes.get("id", ""))

    def root(self, local: str, attributes: dict[str, str]) -> None:
        self.root_seen = True
        if local != "xliff":
            raise ImportFileError(
                f"the root element is <{local}>, not <xliff>: this is not an XLIFF file", line=1, column=1
            )
        version = attributes.get("version", "1.2")
        self.version = 2 if version.startswith("2") else 1
        if self.version == 2:
            self.source_language = attributes.get("srcLang")
            self.target_language = attributes.get("trgLang")

    def begin_native(self, token: str) -> None:
        self.native = []
        self.native_token = token
        self.native_depth = 1

    def inline_start(self, local: str, attributes: dict[str, str]) -> None:
        text = self.text
        assert text is not None
        if local in PAIRED:
            token = text.token("b", attributes.get("id"))
            text.parts.append(token)
            text.open_pairs.append(token)
            reference = attributes.get("dataRefStart")
            if reference in self.original_data:
                text.codes[token] = self.original_data[reference]
        elif self.version == 1 and local in NATIVE_1:
            kind = _KIND[local]
            if local == "it" and attributes.get("pos") == "close":
                kind = "e"
            token = text.token(kind, attributes.get("rid") or attributes.get("id"))
            text.parts.append(token)
            self.begin_native(token)
        elif local in STANDALONE:
            code_id = attributes.get(STANDALONE[local]) or attributes.get("id")
            token = text.token(_KIND[local], code_id)
            text.parts.append(token)
            reference = attributes.get("dataRef")
            if reference in self.original_data:
                text.codes[token] = self.original_data[reference]
        elif local == "cp":
            try:
                text.parts.append(chr(int(attributes.get("hex", ""), 16)))
            except (ValueError, OverflowError):
                text.parts.append("\ufffd")
        # mrk, sm, em and foreign elements: annotations; their text stays, they leave no placeholder.

    def end(self, name: str) -> None:
        local = self.stack.pop()
        if self.native is not None:
            self.native_depth -= 1
            if self.native_depth == 0:
                self.end_native()
            return
        if self.text is not None:
            if local in ("source", "target") and self.stack[-1] in ("trans-unit", "segment", "ignorable"):
                self.text = None
            elif local in PAIRED and self.text.open_pairs:
                self.text.parts.append("⟦e" + self.text.open_pairs.pop()[2:])
            return
        if local in ("trans-unit", "unit") and self.unit is not None:
            self.unit_done(self.unit)
            self.unit = None

    def end_native(self) -> None:
        content = "".join(self.native or ())
        self.native = None
        if self.native_token == "#note":  # noqa: S105 - a marker, not a password
            self.notes.append(content)
        elif self.native_token.startswith("#data:"):
            self.original_data[self.native_token[6:]] = content
        elif self.text is not None:
            self.text.codes[self.native_token] = content

    # -- assembling rows -------------------------------------------------------------------------

    def unit_done(self, unit: dict[str, str]) -> None:
        key = (
            (unit.get("resname") or unit.get("id"))
            if self.version == 1
            else (unit.get("name") or unit.get("id"))
        )
        if unit.get("translate") == "no":
            self.skipped += 1
            return
        if self.problem is not None:
            self.rejections.append(Rejection(self.unit_line, self.problem, key))
            return
        if self.version == 1:
            target = self.targets[0] if self.targets else None
            approved = unit.get("approved") == "yes" or (
                target is not None and target.state in APPROVED_STATES_1
            )
            complete = target is not None
        else:
            approved = bool(self.segment_states) and all(state == "final" for state in self.segment_states)
            complete = bool(self.segment_has_target) and all(self.segment_has_target)
        if not approved and not self.include_unapproved:
            self.skipped += 1
            return
        if not complete:
            self.rejections.append(Rejection(self.unit_line, "the unit has no target segment", key))
            return
        source_text = "".join(part for text in self.sources for part in text.parts)
        target_text = "".join(part for text in self.targets for part in text.parts)
        if not source_text.strip() or not target_text.strip():
            self.rejections.append(Rejection(self.unit_line, "an empty source or target", key))
            return
        if max(len(source_text), len(target_text)) > self.max_segment_chars:
            self.rejections.append(
                Rejection(
                    self.unit_line, f"a segment is longer than {self.max_segment_chars} characters", key
                )
            )
            return
        if "\x00" in source_text or "\x00" in target_text:
            self.rejections.append(
                Rejection(self.unit_line, "a segment contains a NUL character (U+0000)", key)
            )
            return
        try:
            source_tag = self.source_language
            target_tag = (self.targets[0].language if self.targets else None) or self.target_language
            if source_tag is None or target_tag is None:
                raise InvalidLanguage("the file names no source or target language")
            source_language, target_language = normalise_language(source_tag), normalise_language(target_tag)
        except InvalidLanguage as error:
            self.rejections.append(Rejection(self.unit_line, str(error), key))
            return
        source_codes = {k: v for text in self.sources for k, v in text.codes.items()}
        target_codes = {k: v for text in self.targets for k, v in text.codes.items()}
        markup = (
            to_json({"source": source_codes, "target": target_codes})
            if source_codes or target_codes
            else None
        )
        self.ordinal += 1
        self.rows.append(
            (
                self.ordinal,
                self.unit_line,
                key,
                source_language,
                target_language,
                source_text,
                target_text,
                self.notes[0] if self.notes else None,
                (self.file_date or self.received_at) if approved else None,
                None,
                None,
                markup,
            )
        )

    def trim_overflow(self) -> None:
        """Between chunks: a text past the segment limit is emptied and its unit will be rejected."""
        for parts in (self.text.parts if self.text else [], self.native or []):
            if len(parts) > 16 and sum(map(len, parts)) > self.max_segment_chars:
                parts.clear()
                self.problem = f"a segment is longer than {self.max_segment_chars} characters"

    def take(self) -> Batch:
        batch = (self.rows, self.rejections, self.skipped)
        self.rows, self.rejections, self.skipped = [], [], 0
        return batch


def _file_date(value: str | None) -> datetime | None:
    try:
        return parse_tmx_date(value) if value else None
    except ValueError:
        return None  # not ISO 8601: the time the file was received stands in


def read_xliff(
    stream: BinaryIO,
    *,
    include_unapproved: bool = False,
    max_segment_chars: int = 100_000,
    chunk_bytes: int = 1 << 20,
    received_at: datetime | None = None,
) -> Iterator[Batch]:
    """Rows, rejections and the count of unapproved units skipped, a batch per chunk read."""
    reader = _XliffReader(include_unapproved, max_segment_chars, received_at)
    while chunk := stream.read(chunk_bytes):
        feed(reader.parser, chunk)
        reader.trim_overflow()
        yield reader.take()
    feed(reader.parser, b"", final=True)
    if not reader.root_seen:
        raise ImportFileError("the file holds no <xliff> element")
    yield reader.take()
