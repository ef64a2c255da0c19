"""XLIFF 1.2/2.x, CSV and JSONL readers, language tags, placeholders, and the upload sniffer."""

from __future__ import annotations

import codecs
import io
import json
from datetime import UTC, datetime

import pytest

from shared.imports.jsonl import read_jsonl
from shared.imports.languages import InvalidLanguage, normalise_language
from shared.imports.markup import markup_agrees, placeholders, restore_markup, strip_markup
from shared.imports.records import ImportFileError, Rejection, SourceRow
from shared.imports.sniff import sniff
from shared.imports.tabular import read_csv
from shared.imports.xliff import read_xliff
from tests.fixtures.sources import simple_tmx, xliff2, xliff12


def collect(batches: object) -> tuple[list[SourceRow], list[Rejection], int]:
    rows: list[SourceRow] = []
    rejections: list[Rejection] = []
    skipped = 0
    for batch_rows, batch_rejections, batch_skipped in batches:  # type: ignore[attr-defined]
        rows.extend(batch_rows)
        rejections.extend(batch_rejections)
        skipped += batch_skipped
    return rows, rejections, skipped


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en_us", "en-US"),
        ("EN-US", "en-US"),
        ("en-US", "en-US"),
        ("zh_hant_tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("de_DE.UTF-8", "de-DE"),
        ("sr-latn-rs", "sr-Latn-RS"),
        ("x-Klingon", "x-klingon"),
        ("en-US-x-Twain", "en-US-x-twain"),
    ],
)
def test_language_tags_are_normalised_to_bcp47(tag: str, expected: str) -> None:
    assert normalise_language(tag) == expected


@pytest.mark.parametrize("tag", ["", "english", "e", "en--US", "en US", "123", "de-DE-toolongsubtag"])
def test_invalid_language_tags_are_refused(tag: str) -> None:
    with pytest.raises(InvalidLanguage):
        normalise_language(tag)


def test_placeholders_can_be_kept_stripped_restored_and_compared() -> None:
    source, target = "Click ⟦b1⟧Save⟦e1⟧ ⟦p2⟧", "⟦b1⟧Speichern⟦e1⟧ klicken ⟦p2⟧"
    assert strip_markup(source) == "Click Save " and placeholders(source)["⟦p2⟧"] == 1
    assert markup_agrees(source, target) and not markup_agrees(source, "Speichern ⟦p2⟧")
    assert restore_markup(source, {"⟦b1⟧": "<b>", "⟦e1⟧": "</b>"}) == "Click <b>Save</b> ⟦p2⟧"


def test_xliff12_reads_approved_units_only_unless_asked() -> None:
    content = xliff12(
        [
            ("1", "Save", "Speichern", {"approved": "yes"}),
            ("2", "Open", "Öffnen", {}),
            ("3", "Close", "Schließen", {"resname": "menu.close"}),
            ("4", "Skip", "Überspringen", {"translate": "no", "approved": "yes"}),
        ]
    ).replace(b"<target>Schlie", b'<target state="final">Schlie')
    rows, rejections, skipped = collect(read_xliff(io.BytesIO(content)))
    assert [(row[2], row[3], row[4], row[6]) for row in rows] == [
        ("1", "en-US", "de-DE", "Speichern"),
        ("menu.close", "en-US", "de-DE", "Schließen"),
    ]
    assert skipped == 2 and rejections == []
    rows, _, skipped = collect(read_xliff(io.BytesIO(content), include_unapproved=True))
    assert [row[2] for row in rows] == ["1", "2", "menu.close"] and skipped == 1


def test_xliff12_ignores_alt_trans_and_keeps_inline_codes() -> None:
    unit = (
        '<trans-unit id="k" approved="yes"><source>Hello <g id="1">World</g><x id="2"/></source>'
        '<target>Hallo <g id="1">Welt</g><x id="2"/></target><note>greeting</note>'
        "<alt-trans><source>Hi</source><target>Servus</target></alt-trans></trans-unit>"
    )
    content = xliff12([]).replace(b"<body>\n", b"<body>\n" + unit.encode())
    rows, _, _ = collect(read_xliff(io.BytesIO(content)))
    assert rows[0][5:8] == ("Hello ⟦b1⟧World⟦e1⟧⟦p2⟧", "Hallo ⟦b1⟧Welt⟦e1⟧⟦p2⟧", "greeting")


def test_xliff2_final_segments_and_missing_targets() -> None:
    content = xliff2([("a", "Yes", "Ja", "final"), ("b", "No", "Nein", "translated")])
    missing = b'<unit id="c"><segment state="final"><source>Gone</source></segment></unit>\n'
    content = content.replace(b"</file>", missing + b"</file>")
    rows, rejections, skipped = collect(read_xliff(io.BytesIO(content)))
    assert [row[2] for row in rows] == ["a"] and skipped == 1
    assert rejections == [Rejection(5, "the unit has no target segment", "c")]
    everything, _, _ = collect(read_xliff(io.BytesIO(content), include_unapproved=True))
    assert [row[2] for row in everything] == ["a", "b"]


def test_approved_xliff_units_carry_the_files_date_else_the_time_received() -> None:
    received = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    units = [("a", "Yes", "Ja", {"approved": "yes"}), ("b", "No", "Nein", {})]
    dated = xliff12(units).replace(
        b'datatype="plaintext"', b'datatype="plaintext" date="2026-11-02T14:30:00Z"'
    )
    rows, _, _ = collect(read_xliff(io.BytesIO(dated), include_unapproved=True, received_at=received))
    assert [(row[2], row[8]) for row in rows] == [
        ("a", datetime(2026, 11, 2, 14, 30, tzinfo=UTC)),
        ("b", None),
    ]
    rows, _, _ = collect(read_xliff(io.BytesIO(xliff12(units)), received_at=received))
    assert [(row[2], row[8]) for row in rows] == [("a", received)]
    rows, _, _ = collect(read_xliff(io.BytesIO(xliff2([("c", "Go", "Los", "final")])), received_at=received))
    assert [(row[2], row[8]) for row in rows] == [("c", received)]


def test_xliff_with_the_wrong_root_fails() -> None:
    with pytest.raises(ImportFileError, match="not <xliff>"):
        collect(read_xliff(io.BytesIO(simple_tmx(1))))


def test_csv_delimiter_is_sniffed_and_formulas_stay_text() -> None:
    content = (
        b"String ID;Source;Target;source_lang;target_lang;Notes\n"
        b'k1;=HYPERLINK("http://evil.example","click");"Hallo; Welt";en;de;note\n'
        b"k2;@SUM(A1:A9);+1+1;en;de;\n"
        b"k3;;missing source;en;de;\n"
    )
    rows, rejections, _ = collect(read_csv(io.BytesIO(content)))
    assert [(row[2], row[5], row[6], row[7]) for row in rows] == [
        ("k1", '=HYPERLINK("http://evil.example","click")', "Hallo; Welt", "note"),
        ("k2", "@SUM(A1:A9)", "+1+1", None),
    ]
    assert rejections[0].line == 4 and "source_text" in rejections[0].reason


def test_csv_with_language_columns_and_tabs() -> None:
    content = "key\ten_US\tde_DE\nsave\tSave\tSpeichern\n".encode("utf-16")
    rows, _, _ = collect(read_csv(io.BytesIO(content)))
    assert [(row[3], row[4], row[5], row[6]) for row in rows] == [("en-US", "de-DE", "Save", "Speichern")]


def test_csv_header_mapping_option_and_missing_columns() -> None:
    content = b"Name,English,German\nok,Yes,Ja\n"
    mapping = {"key": "Name", "source_text": "English", "target_text": "German"}
    rows, _, _ = collect(
        read_csv(io.BytesIO(content), columns=mapping, source_language="en", target_language="de")
    )
    assert rows[0][2:7] == ("ok", "en", "de", "Yes", "Ja")
    with pytest.raises(ImportFileError, match="no column for source_text or target_text"):
        collect(read_csv(io.BytesIO(b"a,b\n1,2\n")))


def test_csv_invalid_utf8_in_the_middle_fails_naming_the_line() -> None:
    good = "".join(f"k{i},Source {i},Ziel {i}\n" for i in range(5000))
    content = ("key,source,target\n" + good).encode() + b"k,\xff\xfe,x\n" + good.encode()
    with pytest.raises(ImportFileError, match="not UTF-8") as raised:
        collect(read_csv(io.BytesIO(content), source_language="en", target_language="de"))
    assert raised.value.line is not None and raised.value.line > 1


def test_jsonl_bad_line_7_is_named_and_nul_rejected() -> None:
    good = {
        "key": "k",
        "source_text": "Hi",
        "target_text": "Hallo",
        "source_language": "en",
        "target_language": "de",
    }
    lines = [json.dumps({**good, "key": f"k{i}"}) for i in range(10)]
    lines[6] = '{"key": "k6", "source_text": "Hi",'  # line 7: cut short
    lines[8] = json.dumps({**good, "key": "k8", "target_text": "Hal\u0000lo"})
    lines[9] = "[1, 2]"
    rows, rejections, _ = collect(read_jsonl(io.BytesIO(("\n".join(lines) + "\n\n").encode())))
    assert len(rows) == 7
    assert [(r.line, r.reason.split(":")[0]) for r in rejections] == [
        (7, "invalid JSON"),
        (9, "target_text"),
        (10, "row"),
    ]
    assert "NUL" in rejections[1].reason and rejections[1].unit == "k8"


def test_jsonl_languages_default_from_options_and_bom_is_dropped() -> None:
    content = codecs.BOM_UTF8 + b'{"key": "a", "source_text": "Hi", "target_text": "Hallo"}\n'
    rows, rejections, _ = collect(read_jsonl(io.BytesIO(content), source_language="en", target_language="de"))
    assert rejections == [] and rows[0][3:5] == ("en", "de")


@pytest.mark.parametrize(
    ("head", "name", "message"),
    [
        (b"", "a.tmx", "the file is empty"),
        (b"  \n\n", "a.csv", "the file is empty"),
        (b'<?xml version="1.0"?>\n<xliff version="1.2"/>', "a.tmx", "not <tmx>"),
        (b"<html><body/></html>", None, "neither TMX nor XLIFF"),
        (b"key,source\n\xff\xfe\xfa,x\n", "a.csv", "not UTF-8 or UTF-16"),
        (b'<!DOCTYPE tmx [<!ENTITY a "b">]><tmx/>', "a.tmx", "internal subset"),
    ],
)
def test_the_sniffer_refuses_files_that_are_not_what_they_say(
    head: bytes, name: str | None, message: str
) -> None:
    with pytest.raises(ImportFileError, match=message):
        sniff(head, file_name=name, declared=None, complete=True)


def test_the_sniffer_detects_formats() -> None:
    assert sniff(simple_tmx(1), file_name=None, declared=None, complete=True) == "tmx"
    assert sniff(xliff2([]), file_name="x.bin", declared=None, complete=True) == "xliff"
    assert sniff(b'{"key": 1}\n', file_name=None, declared=None, complete=True) == "jsonl"
    assert sniff(b"key,source\n", file_name="strings.txt", declared=None, complete=True) == "csv"
