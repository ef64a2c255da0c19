"""Why a row is not in a dataset: the reason codes of `/v1/datasets/{id}/rejects`."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a row is not in the dataset; the codes `/v1/datasets/{id}/rejects` filters on."""

    EMPTY_SOURCE = "empty_source"
    EMPTY_TARGET = "empty_target"
    UNTRANSLATED = "untranslated"
    TARGET_EQUALS_SOURCE = "target_equals_source"
    LENGTH_RATIO = "length_ratio"
    PLACEHOLDER_MISMATCH = "placeholder_mismatch"
    TAG_MISMATCH = "tag_mismatch"
    TOO_LONG = "too_long"
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"
    IN_VALIDATION = "in_validation"
    OVER_MAX_EXAMPLES = "over_max_examples"
    OVER_MAX_FILE_BYTES = "over_max_file_bytes"


REASON_DESCRIPTIONS: dict[Reason, str] = {
    Reason.EMPTY_SOURCE: "The source text is empty.",
    Reason.EMPTY_TARGET: "The target text is empty.",
    Reason.UNTRANSLATED: "The target has no letters while the source has (only placeholders or symbols).",
    Reason.TARGET_EQUALS_SOURCE: "The target is the source, unchanged.",
    Reason.LENGTH_RATIO: "Target and source lengths differ too much to be a translation of each other.",
    Reason.PLACEHOLDER_MISMATCH: "Source and target carry different placeholders ({0}, %s, {name}, ICU).",
    Reason.TAG_MISMATCH: "Source and target carry different tags (HTML/XML, TMX inline codes).",
    Reason.TOO_LONG: "The example has more tokens than the model's training context.",
    Reason.DUPLICATE: "Another row has the same source and target; the most recently approved is kept.",
    Reason.SUPERSEDED: "A more recently approved row translates the same source differently.",
    Reason.IN_VALIDATION: "The source is also in the validation rows, which never overlap training.",
    Reason.OVER_MAX_EXAMPLES: "Left out by the seeded sample down to `limits.max_examples`.",
    Reason.OVER_MAX_FILE_BYTES: "Left out (seeded order) so the file fits `limits.max_file_bytes`.",
}
