"""What an upload is, judged from its first bytes: format, text encoding, XML root, emptiness.

The upload endpoint runs this on the head of the body so a file that is plainly not what it says
gets a 4xx at once; the worker's full read finds whatever lies deeper (a truncated end, bad bytes).
"""

from __future__ import annotations

import codecs
import pyexpat
from pathlib import PurePosixPath

from shared.imports.records import ImportFileError, ImportFormat
from shared.imports.xmlsafe import malformed, safe_parser

HEAD_BYTES = 64 * 1024
_EXTENSIONS: dict[str, ImportFormat] = {
    ".tmx": "tmx",
    ".xlf": "xliff",
    ".xliff": "xliff",
    ".xlf2": "xliff",
    ".sdlxliff": "xliff",
    ".mqxliff": "xliff",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_ROOTS: dict[ImportFormat, str] = {"tmx": "tmx", "xliff": "xliff"}


def text_encoding(head: bytes) -> str:
    """The codec of a text file: UTF-16 with its BOM, else UTF-8 (a UTF-8 BOM is dropped)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"


def check_text(head: bytes, *, complete: bool) -> None:
    """Refuse bytes that are not UTF-8 (or BOM-marked UTF-16), naming the line and column."""
    decoder = codecs.getincrementaldecoder(text_encoding(head))("strict")
    try:
        decoder.decode(head, final=complete)
    except UnicodeDecodeError as error:
        line = head.count(b"\n", 0, error.start) + 1
        column = error.start - (head.rfind(b"\n", 0, error.start) + 1) + 1
        raise ImportFileError(
            f"the file is not UTF-8 or UTF-16: byte 0x{head[error.start]:02x} cannot be decoded",
            line=line,
            column=column,
        ) from None


class _RootFound(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def xml_root(head: bytes, *, complete: bool) -> str | None:
    """The root element's local name, after the same refusals the full read makes; None if not reached."""
    parser = safe_parser(namespaces=True)

    def root(name: str, attributes: dict[str, str]) -> None:
        raise _RootFound(name.rpartition(" ")[2])

    parser.StartElementHandler = root
    try:
        parser.Parse(head, complete)
    except _RootFound as found:
        return found.name
    except pyexpat.ExpatError as error:
        raise malformed(error) from None
    if complete:
        raise ImportFileError("the file holds no XML element")
    return None


def detect_format(head: bytes, file_name: str | None) -> ImportFormat:
    """By extension, else by content: `<` is XML (TMX or XLIFF by root), `{` JSONL, anything else CSV."""
    if file_name:
        by_extension = _EXTENSIONS.get(PurePosixPath(file_name).suffix.lower())
        if by_extension is not None:
            return by_extension
    text = head[:4096].decode(text_encoding(head), errors="ignore").lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        root = xml_root(head, complete=False)
        if root in ("tmx", "xliff"):
            return "tmx" if root == "tmx" else "xliff"
        raise ImportFileError(
            f"an XML file whose root is <{root}> is neither TMX nor XLIFF", line=1, column=1
        )
    if text.startswith("{"):
        return "jsonl"
    return "csv"


def sniff(
    head: bytes, *, file_name: str | None, declared: ImportFormat | None, complete: bool
) -> ImportFormat:
    """The upload's format, or ImportFileError (empty, undecodable, not the XML it claims to be)."""
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ImportFileError("the file is empty")
    import_format = declared or detect_format(head, file_name)
    if import_format in _ROOTS:
        # Expat checks the encoding itself (declaration, BOM, malformed bytes) as it finds the root.
        root = xml_root(head, complete=complete)
        expected = _ROOTS[import_format]
        if root is not None and root != expected:
            raise ImportFileError(
                f"the root element is <{root}>, not <{expected}>: this is not a {import_format.upper()} file",
                line=1,
                column=1,
            )
    else:
        check_text(head, complete=complete)
    return import_format
