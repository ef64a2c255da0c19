"""Normalisation and every row filter, on hand-made rows with known answers."""

from __future__ import annotations

import pytest

from services.dataset_builder.cleaning import normalise_whitespace, normaliser, row_problem
from shared.datasets.reasons import Reason
from shared.datasets.recipe import Cleaning

DEFAULTS = Cleaning()


def reason(source: str, target: str, options: Cleaning = DEFAULTS) -> str | None:
    problem = row_problem(source, target, options)
    return problem[0].value if problem else None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Save   file\t now ", "Save file now"),
        ("line one \r\n  line two\r", "line one\nline two"),
        ("a\u2003\u3000b", "a b"),
        ("Prix\u00a0: 5\u202f€", "Prix\u00a0: 5\u202f€"),  # no-break spaces are typography: kept
        ("para\n\n\nnext", "para\n\n\nnext"),
        ("a\u2028b", "a\nb"),
    ],
)
def test_whitespace_is_normalised(raw: str, expected: str) -> None:
    assert normalise_whitespace(raw) == expected


def test_unicode_is_nfc_and_options_switch_it_off() -> None:
    decomposed = "Cafe\u0301  ok"
    assert normaliser(DEFAULTS)(decomposed) == "Café ok"
    assert normaliser(Cleaning(normalize_whitespace=False))(decomposed) == "Café  ok"
    assert normaliser(Cleaning(normalize_unicode=False))(decomposed) == "Cafe\u0301 ok"
    assert normaliser(Cleaning(normalize_unicode=False, normalize_whitespace=False))(decomposed) == decomposed


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("Save", "Speichern", None),
        ("", "Speichern", "empty_source"),
        ("Save", "", "empty_target"),
        ("Save {0} files", "{0} ???", "untranslated"),
        ("Open settings", "...", "untranslated"),
        ("12:00", "12:00", "target_equals_source"),  # no letters on either side: not untranslated
        ("Email", "Email", "target_equals_source"),
        ("Save the file before you close the window", "Sp.", "length_ratio"),
        ("OK", "Einverstanden", None),  # short texts: ratio not checked
        ("Save", "Speichern " * 10, "length_ratio"),
        ("Open {0}", "Öffnen", "placeholder_mismatch"),
        ("Open {name}", "{name} öffnen", None),
        ("Open %s of %d", "%d von %s öffnen", None),
        ("Open %s", "Öffnen %d", "placeholder_mismatch"),
        ("50% off", "50 % Rabatt", None),
        ("{count, plural, one {# file} other {# files}}",
         "{count, plural, one {# Datei} few {# Dateien} other {# Dateien}}", None),
        ("{count, plural, one {# file by {user}} other {# files by {user}}}",
         "{count, plural, one {# Datei} other {# Dateien}}", "placeholder_mismatch"),
        ("{count, plural, one {# file} other {# files}}", "{count, select, a {x} other {y}}",
         "placeholder_mismatch"),
        ("Open {0", "Öffnen {0}", "placeholder_mismatch"),
        ("Hi {{name}}", "Hallo {{ name }}", None),
        ("<b>Save</b> now", "Jetzt <b>speichern</b>", None),
        ("<b>Save</b> now", "Jetzt speichern", "tag_mismatch"),
        ('<a href="/x">Help</a>', '<a href="/y" title="Hilfe">Hilfe</a>', None),
        ("Click ⟦b1⟧here⟦e1⟧ ⟦p2⟧", "⟦p2⟧ ⟦b1⟧hier⟦e1⟧ klicken", None),
        ("Click ⟦b1⟧here⟦e1⟧", "Hier klicken", "tag_mismatch"),
    ],
)  # fmt: skip
def test_filters(source: str, target: str, expected: str | None) -> None:
    assert reason(source, target) == expected


def test_filters_follow_the_cleaning_options() -> None:
    assert reason("Email", "Email", Cleaning(drop_identical=False)) is None
    assert reason("Open {0}", "Öffnen", Cleaning(check_placeholders=False)) is None
    ratio = Cleaning(min_length_ratio=0.5, max_length_ratio=1.5, length_ratio_min_chars=5)
    assert reason("Save files", "Dateien speichern", ratio) == "length_ratio"  # 17/10 > 1.5
    assert reason("Save files", "Speichern", ratio) is None


def test_every_reason_is_described() -> None:
    from shared.datasets.reasons import REASON_DESCRIPTIONS

    assert set(REASON_DESCRIPTIONS) == set(Reason)


def test_details_name_what_differs() -> None:
    problem = row_problem("Open {0} and {1}", "Öffnen {0}", DEFAULTS)
    assert problem is not None
    assert "{1}" in problem[1]


def test_chunked_normalisation_equals_row_by_row() -> None:
    from services.dataset_builder.cleaning import CHUNK_TEXTS, normalise_all

    texts = [f"Clean text {i}" for i in range(CHUNK_TEXTS * 3)]
    texts[5] = " leading"
    texts[CHUNK_TEXTS + 7] = "Cafe\u0301"
    texts[2 * CHUNK_TEXTS] = "double  space"
    texts[2 * CHUNK_TEXTS + 1] = "Prix\u00a0€"
    texts[-1] = "trailing\t"
    for options in (DEFAULTS, Cleaning(normalize_unicode=False), Cleaning(normalize_whitespace=False)):
        one_by_one = [normaliser(options)(text) for text in texts]
        assert normalise_all(texts, normaliser(options), options) == one_by_one


def test_rows_with_markup_are_found_in_one_scan() -> None:
    from services.dataset_builder.cleaning import rows_with_markup

    sources = ["plain", "Open {0}", "x", "<b>bold</b>", "line\nbreak", "", "y"]
    targets = ["schlicht", "Öffnen {0}", "50 %", "fett", "Zeile\nUmbruch", "⟦p1⟧", "z"]
    assert rows_with_markup(sources, targets) == {1, 2, 3, 5}
    assert rows_with_markup(["a"], ["b"]) == set()
