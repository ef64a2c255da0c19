"""TMX 1.4b, streamed: each `tu` becomes rows when it closes; memory stays flat whatever the size.

A unit gives one row per target language: its source segment (the unit's or the header's `srclang`)
paired with every other variant. Languages are normalised to BCP 47; `creationdate`/`changedate`
(the target variant's, else the unit's) become `created_at`/`approved_at`; `tuid`, `prop`s (and the
unit's `creationid`, `changeid`, `usagecount`...) and the first `note` are kept; inline codes become
placeholders (see `shared.imports.markup`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from shared.imports.languages import ALL_LANGUAGES, InvalidLanguage, normalise_language
from shared.imports.markup import placeholder
from shared.imports.records import Batch, ImportFileError, Rejection, SourceRow, to_json
from shared.imports.xmlsafe import feed, safe_parser

CHUNK_BYTES = 1 << 20
XML_LANG = "xml:lang"
# Codes whose content is native markup (kept beside the text) rather than translatable text.
CODES = {"bpt": "b", "ept": "e", "ph": "p", "it": "b", "ut": "p"}
UNIT_ATTRIBUTES = ("creationid", "changeid", "usagecount", "lastusagedate", "o-tmf", "datatype")
_CACHE_LIMIT = 4096
_NO_CODES: dict[str, str] = {}  # shared by every segment without inline codes; never written to

Variant = tuple[str, str, dict[str, str], dict[str, str]]  # language, text, codes, <tuv> attributes


def parse_tmx_date(value: str) -> datetime:
    """`20240131T093000Z` (TMX's ISO 8601 basic form, UTC); the extended form is accepted too."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def code_id(name: str, attributes: dict[str, str]) -> tuple[str, str | None]:
    """The placeholder kind and file-given id of an inline code."""
    kind = CODES[name]
    if name in ("bpt", "ept"):
        return kind, attributes.get("i")
    if name == "it" and attributes.get("pos") == "end":
        return "e", attributes.get("x")
    return kind, attributes.get("x")


class UnitBuilder:
    """The rules that turn one unit into rows or a rejection, whichever reader found it."""

    def __init__(self, source_language: str | None, max_segment_chars: int) -> None:
        self.option_source = source_language
        self.header_source: str | None = None
        self.max_segment_chars = max_segment_chars
        self.rows: list[SourceRow] = []
        self.rejections: list[Rejection] = []
        self.ordinal = 0
        self.properties_json: dict[tuple[tuple[str, Any], ...], str | None] = {}

    def reject(self, line: int, reason: str, tuid: str | None) -> None:
        self.rejections.append(Rejection(line, reason, tuid))

    def unit(  # noqa: PLR0917 - called per unit by both readers: positional is measurably faster
        self,
        unit: dict[str, str],
        variants: list[Variant],
        properties: dict[str, Any],
        note: str | None,
        line: int,
        problem: str | None,
    ) -> None:
        tuid = unit.get("tuid")
        if problem is not None:
            return self.reject(line, problem, tuid)
        try:
            source_tag = unit.get("srclang") or self.option_source or self.header_source
            if source_tag is None:
                raise InvalidLanguage("the file names no source language (<header srclang>)")
            variants = [(normalise_language(v[0]), v[1], v[2], v[3]) for v in variants]
            if source_tag == ALL_LANGUAGES:
                source_language = variants[0][0] if variants else ALL_LANGUAGES
            else:
                source_language = normalise_language(source_tag)
        except InvalidLanguage as error:
            return self.reject(line, str(error), tuid)
        distinct = len(variants) == 2 and variants[0][0] != variants[1][0]  # the common case, quickly
        if distinct:
            source = variants[0] if variants[0][0] == source_language else None
            if source is None and variants[1][0] == source_language:
                source = variants[1]
        else:
            source = next((variant for variant in variants if variant[0] == source_language), None)
        if source is None:
            return self.reject(
                line, f"the unit has no segment in the source language {source_language}", tuid
            )
        if len(variants) < 2:
            return self.reject(line, "the unit has no target segment", tuid)
        if not distinct and len({variant[0] for variant in variants}) < len(variants):
            return self.reject(line, "the unit has two segments in one language", tuid)
        source_text, source_codes = source[1], source[2]
        if not source_text.strip():
            return self.reject(line, "the source segment is empty", tuid)
        properties_json = self.unit_properties(unit, properties)
        for language, text, codes, attributes in variants:
            if language == source_language:
                continue
            if not text.strip():
                self.reject(line, f"the {language} segment is empty", tuid)
                continue
            changed = attributes.get("changedate") or unit.get("changedate")
            created = attributes.get("creationdate") or unit.get("creationdate")
            try:
                approved_at = parse_tmx_date(changed) if changed else None
                created_at = parse_tmx_date(created) if created else None
            except ValueError:
                return self.reject(
                    line, f"a date is not a TMX date (YYYYMMDDThhmmssZ): {changed or created!r}", tuid
                )
            markup = to_json({"source": source_codes, "target": codes}) if (codes or source_codes) else None
            self.ordinal += 1
            self.rows.append(
                (self.ordinal, line, tuid, source_language, language, source_text, text, note,
                 approved_at, created_at, properties_json, markup)
            )  # fmt: skip
        return None

    def unit_properties(self, unit: dict[str, str], properties: dict[str, Any]) -> str | None:
        """The unit's props and bookkeeping attributes as JSON, cached: most units repeat them."""
        for attribute in UNIT_ATTRIBUTES:
            if attribute in unit:
                properties[attribute] = unit[attribute]
        if not properties:
            return None
        try:
            identity = tuple(properties.items())
            cached = self.properties_json.get(identity)
        except TypeError:  # a repeated prop holds a list
            return to_json(properties)
        if cached is None:
            if len(self.properties_json) > _CACHE_LIMIT:
                self.properties_json.clear()
            cached = self.properties_json[identity] = to_json(properties)
        return cached

    def take(self) -> Batch:
        batch = (self.rows, self.rejections, 0)
        self.rows, self.rejections = [], []
        return batch


def add_property(properties: dict[str, Any], kind: str, value: str) -> None:
    existing = properties.get(kind)
    if existing is None:
        properties[kind] = value
    elif isinstance(existing, list):
        existing.append(value)
    else:
        properties[kind] = [existing, value]


class TmxReader:
    """Expat handlers keeping just enough state for one unit: the commonest elements are tested first,
    and character data is only collected where it is wanted (the handler is set and cleared)."""

    def __init__(self, builder: UnitBuilder, *, line_offset: int = 0) -> None:
        self.builder = builder
        self.line_offset = line_offset
        self.parser = parser = safe_parser()
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        self.root_seen = False
        self.in_body = False
        self.unit: dict[str, str] | None = None
        self.unit_line = 0
        self.variants: list[Variant] = []
        self.properties: dict[str, Any] = {}
        self.note: str | None = None
        self.problem: str | None = None
        self.variant: dict[str, str] | None = None
        self.text: list[str] = []
        self.capture: list[str] | None = None
        self.codes: dict[str, str] = {}
        self.code_parts: list[str] = []
        self.code_token = ""
        self.code_depth = 0
        self.ordinals = 0
        self.highlights: list[str] = []
        self.prop_type = ""
        self.in_segment = False

    # -- outside segments ------------------------------------------------------------------------

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if name == "seg":
            self.text = []
            self.codes = _NO_CODES
            self.ordinals = 0
            self.in_segment = True
            self.parser.CharacterDataHandler = self.text.append
        elif name == "tuv":
            self.variant = attributes
        elif self.in_segment:
            self.inline_start(name, attributes)
        elif name == "tu":
            self.unit = attributes
            self.unit_line = self.parser.CurrentLineNumber + self.line_offset
            self.variants = []
            self.properties = {}
            self.note = None
            self.problem = None
        elif name in ("prop", "note"):
            self.prop_type = attributes.get("type", "") if name == "prop" else ""
            self.capture = []
            self.parser.CharacterDataHandler = self.capture.append
        elif name == "body":
            self.in_body = True
        elif name == "header":
            self.builder.header_source = attributes.get("srclang")
        elif not self.root_seen:
            self.root_seen = True
            if name != "tmx":
                raise ImportFileError(
                    f"the root element is <{name}>, not <tmx>: this is not a TMX file", line=1, column=1
                )

    def end(self, name: str) -> None:
        if self.in_segment:
            if name == "seg" and not self.code_depth:
                self.in_segment = False
                self.parser.CharacterDataHandler = None
                self.segment_done()
            else:
                self.inline_end(name)
        elif name == "tuv":
            self.variant = None
        elif name == "tu":
            if self.in_body and self.unit is not None:
                self.builder.unit(
                    self.unit, self.variants, self.properties, self.note, self.unit_line, self.problem
                )
            self.unit = None
        elif name in ("prop", "note") and self.capture is not None:
            self.parser.CharacterDataHandler = None
            value = "".join(self.capture)
            self.capture = None
            if self.unit is None or self.variant is not None:
                return  # header and variant properties describe the file or a language, not the pair
            if name == "note":
                if self.note is None:
                    self.note = value
            else:
                add_property(self.properties, self.prop_type, value)

    # -- inside a segment (rare: most segments hold plain text) ----------------------------------

    def inline_start(self, name: str, attributes: dict[str, str]) -> None:
        if self.code_depth:
            self.code_depth += 1  # `sub` and friends inside a native code stay native code
            return
        if self.codes is _NO_CODES:
            self.codes, self.highlights = {}, []
        if name in CODES:
            self.ordinals += 1
            kind, file_id = code_id(name, attributes)
            self.code_token = placeholder(kind, file_id, self.ordinals)
            self.text.append(self.code_token)
            self.code_parts = []
            self.parser.CharacterDataHandler = self.code_parts.append
            self.code_depth = 1
        elif name == "hi":
            self.ordinals += 1
            token = placeholder("b", attributes.get("x"), self.ordinals)
            self.highlights.append(token)
            self.text.append(token)

    def inline_end(self, name: str) -> None:
        if self.code_depth:
            self.code_depth -= 1
            if self.code_depth == 0:
                self.codes[self.code_token] = "".join(self.code_parts)
                self.parser.CharacterDataHandler = self.text.append
        elif name == "hi" and self.highlights:
            self.text.append("⟦e" + self.highlights.pop()[2:])

    def segment_done(self) -> None:
        text = "".join(self.text)
        if len(text) > self.builder.max_segment_chars:
            self.problem = f"a segment is longer than {self.builder.max_segment_chars} characters"
        variant = self.variant or {}
        language = variant.get(XML_LANG) or variant.get("lang")  # `lang` is TMX 1.1's name
        if language is None:
            self.problem = self.problem or "a <tuv> has no xml:lang"
            return
        self.variants.append((language, text, self.codes, variant))

    def trim_overflow(self) -> None:
        """Between chunks: a capture past the segment limit is emptied (memory stays bounded) and its
        unit will be rejected; the rest of the file reads on."""
        limit = self.builder.max_segment_chars
        open_captures = [self.capture] if self.capture is not None else []
        if self.in_segment:
            open_captures += [self.text, self.code_parts] if self.code_depth else [self.text]
        for parts in open_captures:
            if len(parts) > 16 and sum(map(len, parts)) > limit:
                parts.clear()
                self.problem = f"a segment is longer than {limit} characters"


def read_tmx(
    stream: BinaryIO,
    *,
    source_language: str | None = None,
    max_segment_chars: int = 100_000,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Batch]:
    """Rows and rejections, a batch per chunk read; raises ImportFileError when the file is not TMX."""
    builder = UnitBuilder(source_language, max_segment_chars)
    reader = TmxReader(builder)
    yield from _parse(reader, iter(lambda: stream.read(chunk_bytes), b""), b"")


# -- a stretch of a file, for readers in several processes ------------------------------------------

_UNIT_START = re.compile(rb"<tu[\s>]")
_PROBE_BYTES = 1 << 16  # how far past a cut point the next unit is looked for
_CLOSING = b"</body></tmx>"


@dataclass(frozen=True)
class Stretch:
    """Bytes `[start, end)` of a TMX, from one `<tu` to the next stretch's; the last runs to the end."""

    start: int
    end: int
    last: bool


@dataclass(frozen=True)
class Split:
    """A TMX cut into stretches of whole units; every reader parses `prefix_end` bytes (the prolog, the
    header and `<body>`) before its stretch, and a stretch that is not the last is closed for it."""

    prefix_end: int
    stretches: list[Stretch]


def split_tmx(stream: BinaryIO, size: int, parts: int, *, first_share: float = 1.0) -> Split | None:
    """Cut points at unit starts, `parts` stretches of about equal size but the first, which is
    `first_share` times the others; None when the file is not worth cutting (UTF-16, no unit in its
    first 64 KiB, too small for two stretches).

    A cut is a guess made without parsing: a `<tu` inside a comment or CDATA section looks like one.
    The stretch before it then ends inside that comment and fails to parse, and the caller reads the
    file in one go instead: a guess is never trusted, only checked by the parse itself.
    """
    stream.seek(0)
    head = stream.read(_PROBE_BYTES)
    first = _UNIT_START.search(head)
    if parts < 2 or first is None or b"\x00" in head[:1024]:
        return None
    starts = [first.start()]
    body = size - starts[0]
    for part in range(1, parts):
        cut = starts[0] + int(body * (first_share + part - 1) / (first_share + parts - 1))
        if cut <= starts[-1]:
            continue
        stream.seek(cut)
        found = _UNIT_START.search(stream.read(_PROBE_BYTES))
        if found is not None and cut + found.start() > starts[-1]:
            starts.append(cut + found.start())
    if len(starts) < 2:
        return None
    ends = [*starts[1:], size]
    stretches = [Stretch(start, end, end == size) for start, end in zip(starts, ends, strict=True)]
    return Split(starts[0], stretches)


def read_tmx_stretch(
    stream: BinaryIO,
    prefix_end: int,
    stretch: Stretch,
    *,
    source_language: str | None = None,
    max_segment_chars: int = 100_000,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Batch]:
    """The rows of one stretch, as `read_tmx` gives them: lines are the file's, and ordinals start at
    the stretch's first byte, so they keep the file's order across stretches (a stretch has fewer
    rows than bytes)."""
    builder = UnitBuilder(source_language, max_segment_chars)
    builder.ordinal = stretch.start
    lines = 0
    stream.seek(prefix_end)
    for chunk in _chunks(stream, stretch.start - prefix_end, chunk_bytes):
        lines += chunk.count(b"\n")
    reader = TmxReader(builder, line_offset=lines)
    stream.seek(0)
    feed(reader.parser, stream.read(prefix_end))
    stream.seek(stretch.start)
    chunks = _chunks(stream, stretch.end - stretch.start, chunk_bytes)
    yield from _parse(reader, chunks, b"" if stretch.last else _CLOSING)


def _chunks(stream: BinaryIO, length: int, chunk_bytes: int) -> Iterator[bytes]:
    while length > 0 and (chunk := stream.read(min(chunk_bytes, length))):
        length -= len(chunk)
        yield chunk


def _parse(reader: TmxReader, chunks: Iterator[bytes], closing: bytes) -> Iterator[Batch]:
    for chunk in chunks:
        feed(reader.parser, chunk)
        reader.trim_overflow()
        yield reader.builder.take()
    feed(reader.parser, closing, final=True)
    if not reader.root_seen:
        raise ImportFileError("the file holds no <tmx> element")
    yield reader.builder.take()
