"""The TMX reader: units to rows, and every hostile or broken file refused with its place named."""

from __future__ import annotations

import codecs
import io
import json

import pytest

from shared.imports.records import ImportFileError, Rejection, SourceRow
from shared.imports.tmx import read_tmx, read_tmx_stretch, split_tmx
from tests.fixtures.sources import simple_tmx, tmx_document, tmx_unit


def read(content: bytes, **options: object) -> tuple[list[SourceRow], list[Rejection]]:
    rows: list[SourceRow] = []
    rejections: list[Rejection] = []
    for batch_rows, batch_rejections, _ in read_tmx(io.BytesIO(content), chunk_bytes=4096, **options):  # type: ignore[arg-type]
        rows.extend(batch_rows)
        rejections.extend(batch_rejections)
    return rows, rejections


def refused(content: bytes) -> ImportFileError:
    with pytest.raises(ImportFileError) as raised:
        read(content)
    return raised.value


def test_units_keep_languages_dates_tuid_properties_and_note() -> None:
    content = tmx_document(
        [
            tmx_unit(
                "t1", "Save", "Speichern", target_language="DE_de", props={"x-domain": "ui"}, note="button"
            ),
            tmx_unit(None, "Cancel", "Abbrechen", changedate=None, creationdate="20220101T000000Z"),
        ],
        srclang="EN-us",
    )
    rows, rejections = read(content)
    assert rejections == []
    first, second = rows
    assert first[2:8] == ("t1", "en-US", "de-DE", "Save", "Speichern", "button")
    assert first[8] is not None and first[8].isoformat() == "2024-01-31T09:30:00+00:00"
    assert json.loads(first[10] or "{}") == {"x-domain": "ui", "creationid": "alice"}
    assert second[2] is None and second[8] is None and second[9] is not None and second[9].year == 2022


def test_inline_markup_becomes_stable_placeholders_with_native_codes() -> None:
    source = (
        'Click <bpt i="1" x="1">&lt;b&gt;</bpt>Save<ept i="1">&lt;/b&gt;</ept>'
        ' <ph x="7">{0}</ph> <hi x="3">now</hi>'
    )
    target = (
        '<bpt i="1">&lt;b&gt;</bpt>Speichern<ept i="1">&lt;/b&gt;</ept> klicken'
        ' <ph x="7">{0}</ph> <hi x="3">jetzt</hi>'
    )
    rows, _ = read(tmx_document([tmx_unit("m", source, target)]))
    row = rows[0]
    assert row[5] == "Click ⟦b1⟧Save⟦e1⟧ ⟦p7⟧ ⟦b3⟧now⟦e3⟧"
    assert row[6] == "⟦b1⟧Speichern⟦e1⟧ klicken ⟦p7⟧ ⟦b3⟧jetzt⟦e3⟧"
    markup = json.loads(row[11] or "{}")
    assert markup["source"] == {"⟦b1⟧": "<b>", "⟦e1⟧": "</b>", "⟦p7⟧": "{0}"}
    assert markup["target"] == markup["source"]


def test_sub_and_it_inside_codes_stay_native() -> None:
    source = 'A <ph x="1">&lt;img alt="<sub>Logo</sub>"&gt;</ph> <it pos="begin" x="2">&lt;i&gt;</it>x'
    rows, _ = read(tmx_document([tmx_unit("s", source, "B ⟦p1⟧")]))
    assert rows[0][5] == "A ⟦p1⟧ ⟦b2⟧x"
    assert json.loads(rows[0][11] or "{}")["source"]["⟦p1⟧"] == '<img alt="Logo">'


def test_bad_units_are_rejected_with_their_line_and_reason() -> None:
    units = [
        '<tu tuid="lonely"><tuv xml:lang="en-US"><seg>Only source</seg></tuv></tu>\n',
        '<tu tuid="nosource"><tuv xml:lang="fr-FR"><seg>Bonjour</seg></tuv>'
        '<tuv xml:lang="de-DE"><seg>Hallo</seg></tuv></tu>\n',
        tmx_unit("badlang", "Yes", "Ja", target_language="not a tag"),
        tmx_unit("empty", "Yes", "   "),
        tmx_unit("baddate", "Yes", "Ja", changedate="yesterday"),
        tmx_unit("ok", "Yes", "Ja"),
    ]
    rows, rejections = read(tmx_document(units))
    assert [row[2] for row in rows] == ["ok"]
    reasons = {rejection.unit: (rejection.line, rejection.reason) for rejection in rejections}
    assert reasons["lonely"] == (5, "the unit has no target segment")
    assert reasons["nosource"][1] == "the unit has no segment in the source language en-US"
    assert "not a BCP 47 language tag" in reasons["badlang"][1]
    assert reasons["empty"][1] == "the de-DE segment is empty"
    assert reasons["baddate"][1].startswith("a date is not a TMX date")


def test_multilingual_units_give_one_row_per_target() -> None:
    unit = (
        '<tu tuid="m"><tuv xml:lang="en"><seg>Yes</seg></tuv><tuv xml:lang="de"><seg>Ja</seg></tuv>'
        '<tuv xml:lang="fr"><seg>Oui</seg></tuv></tu>'
    )
    rows, _ = read(tmx_document([unit], srclang="en"))
    assert [(row[3], row[4], row[6]) for row in rows] == [("en", "de", "Ja"), ("en", "fr", "Oui")]


def test_utf16_with_bom_is_read() -> None:
    text = (
        tmx_document([tmx_unit("u", "Größe", "Taille")])
        .decode()
        .replace('encoding="UTF-8"', 'encoding="UTF-16"')
    )
    rows, _ = read(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert rows[0][5:7] == ("Größe", "Taille")


def test_a_doctype_naming_a_dtd_is_read_without_fetching_it() -> None:
    content = simple_tmx(2).replace(b"<tmx", b'<!DOCTYPE tmx SYSTEM "http://127.0.0.1:9/tmx14.dtd">\n<tmx', 1)
    rows, _ = read(content)
    assert len(rows) == 2


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE tmx [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<tmx version="1.4"><header srclang="en"/><body>
<tu><tuv xml:lang="en"><seg>&lol9;</seg></tuv></tu></body></tmx>"""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (BILLION_LAUGHS, "internal subset"),
        (
            b'<?xml version="1.0"?><!DOCTYPE tmx [<!ENTITY a "' + b"A" * 50_000 + b'">]><tmx>&a;&a;&a;</tmx>',
            "internal subset",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE tmx [<!ENTITY x SYSTEM "file:///etc/passwd">]><tmx>&x;</tmx>',
            "internal subset",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE tmx [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><tmx>&x;</tmx>',
            "internal subset",
        ),
        (b'<!DOCTYPE tmx SYSTEM "http://127.0.0.1:9/evil.dtd"><tmx><body>&xxe;</body></tmx>', "&xxe;"),
        (b"<tmx><body>&undefined;</body></tmx>", "undefined entity"),
    ],
    ids=[
        "billion-laughs",
        "quadratic-blowup",
        "external-file",
        "external-url",
        "entity-from-dtd",
        "undefined",
    ],
)
def test_entity_tricks_are_refused_before_any_expansion(content: bytes, expected: str) -> None:
    error = refused(content)
    assert expected in error.detail and error.line is not None


def test_broken_files_fail_as_a_whole_naming_the_place() -> None:
    whole = simple_tmx(200)
    truncated = refused(whole[:-40])
    assert truncated.line is not None and truncated.line > 600 and "well-formed" in truncated.detail
    middle = whole.index(b"Hallo 150")
    invalid = refused(whole[:middle] + b"\xff\xfe" + whole[middle:])
    assert invalid.line == whole[:middle].count(b"\n") + 1 and "not well-formed" in invalid.detail
    nul = refused(whole[:middle] + b"\x00" + whole[middle:])
    assert nul.line == invalid.line
    wrong_root = refused(b'<?xml version="1.0"?>\n<xliff version="1.2"></xliff>')
    assert "not <tmx>" in wrong_root.detail and wrong_root.line == 1
    assert "no <tmx>" in refused(b"").detail or "well-formed" in refused(b"").detail
    latin = refused(b'<?xml version="1.0" encoding="ISO-8859-1"?><tmx/>')
    assert "UTF-8 or UTF-16" in latin.detail


def test_a_character_reference_to_nul_is_refused() -> None:
    error = refused(tmx_document([tmx_unit("n", "a&#0;b", "c")]))
    assert error.line == 6 and "reference to invalid character" in error.detail


def test_an_oversized_segment_rejects_its_unit_without_holding_it() -> None:
    huge = "x" * 300_000
    rows, rejections = read(tmx_document([tmx_unit("big", huge, "y"), tmx_unit("next", "Yes", "Ja")]))
    assert [row[2] for row in rows] == ["next"]
    assert rejections == [Rejection(5, "a segment is longer than 100000 characters", "big")]
    rows, rejections = read(tmx_document([tmx_unit("big", "x" * 2000, "y")]), max_segment_chars=1000)
    assert rows == [] and rejections[0].reason == "a segment is longer than 1000 characters"


# -- stretches: a file cut at unit starts reads as the whole file does -------------------------------


def read_stretches(content: bytes, parts: int, **options: object) -> tuple[list[SourceRow], list[Rejection]]:
    split = split_tmx(io.BytesIO(content), len(content), parts)
    assert split is not None and len(split.stretches) == parts
    rows: list[SourceRow] = []
    rejections: list[Rejection] = []
    for stretch in split.stretches:
        for batch in read_tmx_stretch(
            io.BytesIO(content), split.prefix_end, stretch, chunk_bytes=4096, **options
        ):  # type: ignore[arg-type]
            rows.extend(batch[0])
            rejections.extend(batch[1])
    return rows, rejections


def mixed_units(count: int) -> list[str]:
    """Plain, marked-up, multilingual and bad units, so every kind lands on both sides of a cut."""
    units = []
    for i in range(count):
        if i % 7 == 3:
            units.append(f'<tu tuid="lonely{i}"><tuv xml:lang="en-US"><seg>Only {i}</seg></tuv></tu>\n')
        elif i % 5 == 1:
            units.append(
                tmx_unit(f"m{i}", f'Click <ph x="1">{{{i}}}</ph>', f'<ph x="1">{{{i}}}</ph> klicken')
            )
        else:
            units.append(tmx_unit(f"u{i}", f"Hello {i}", f"Hallo {i}", props={"x-n": str(i % 3)}))
    return units


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_stretches_read_as_the_whole_file_with_its_lines_and_ordinals_in_file_order(parts: int) -> None:
    content = tmx_document(mixed_units(400))
    whole_rows, whole_rejections = read(content)
    rows, rejections = read_stretches(content, parts)
    assert [row[1:] for row in rows] == [row[1:] for row in whole_rows]  # lines included
    assert rejections == whole_rejections
    ordinals = [row[0] for row in rows]
    assert ordinals == sorted(ordinals) and len(set(ordinals)) == len(ordinals)


def test_split_cuts_only_at_unit_starts_and_weights_the_first_stretch() -> None:
    content = simple_tmx(1000)
    split = split_tmx(io.BytesIO(content), len(content), 3, first_share=0.5)
    assert split is not None
    assert content[split.prefix_end : split.prefix_end + 4] == b"<tu "
    sizes = [stretch.end - stretch.start for stretch in split.stretches]
    assert all(content[stretch.start : stretch.start + 4] == b"<tu " for stretch in split.stretches)
    assert [stretch.last for stretch in split.stretches] == [False, False, True]
    assert split.stretches[-1].end == len(content)
    assert abs(sizes[0] / sizes[1] - 0.5) < 0.05 and abs(sizes[1] / sizes[2] - 1) < 0.05


def test_files_not_worth_cutting_are_not_cut() -> None:
    utf16 = codecs.BOM_UTF16_LE + simple_tmx(100).decode().encode("utf-16-le")
    assert split_tmx(io.BytesIO(utf16), len(utf16), 2) is None
    one_unit = tmx_document([tmx_unit("only", "Yes", "Ja")])
    assert split_tmx(io.BytesIO(one_unit), len(one_unit), 2) is None
    assert split_tmx(io.BytesIO(simple_tmx(100)), len(simple_tmx(100)), 1) is None


def test_a_cut_inside_a_comment_makes_the_stretch_before_it_unreadable() -> None:
    hidden = "<!-- retired:\n" + "".join(tmx_unit(f"old{i}", "Old", "Alt") for i in range(200)) + "-->\n"
    content = tmx_document([tmx_unit("a", "Yes", "Ja"), hidden, tmx_unit("b", "No", "Nein")])
    rows, _ = read(content)
    assert [row[2] for row in rows] == ["a", "b"]  # the whole file: the comment is a comment
    split = split_tmx(io.BytesIO(content), len(content), 2)
    assert split is not None and split.prefix_end < split.stretches[1].start < content.index(b"-->")
    with pytest.raises(ImportFileError):
        list(read_tmx_stretch(io.BytesIO(content), split.prefix_end, split.stretches[0]))
