"""Language tags normalised to BCP 47 casing: `en_us`, `EN-US` and `en-US` are one language."""

from __future__ import annotations

import re
from functools import lru_cache

# TMX's header `srclang="*all*"`: any variant of a unit may be its source.
ALL_LANGUAGES = "*all*"
MAX_TAG_LENGTH = 35  # RFC 5646 §4.4.1: the longest tag an implementation must handle
_SUBTAG = re.compile(r"[A-Za-z0-9]{1,8}")
# ISO 639 codes only: RFC 5646 also allows 5-8 letters, but none are registered, and "english" is a typo.
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}")


class InvalidLanguage(ValueError):
    """The value is not a BCP 47 language tag."""


@lru_cache(maxsize=4096)
def normalise_language(tag: str) -> str:
    """The tag in BCP 47 casing (`zh_hant_tw` -> `zh-Hant-TW`); POSIX suffixes (`.UTF-8`) are dropped."""
    raw = tag.strip()
    for separator in (".", "@"):  # de_DE.UTF-8, ca_ES@valencia: locale names, not language tags
        raw = raw.split(separator, 1)[0]
    subtags = raw.replace("_", "-").split("-")
    if not raw or len(raw) > MAX_TAG_LENGTH or not all(_SUBTAG.fullmatch(part) for part in subtags):
        raise InvalidLanguage(f"{tag!r} is not a BCP 47 language tag (e.g. en-US, de, zh-Hant-TW)")
    first = subtags[0].lower()
    if first in ("x", "i"):  # private use (x-klingon) and grandfathered (i-default) tags
        return "-".join(part.lower() for part in subtags)
    if not _LANGUAGE.fullmatch(first):
        raise InvalidLanguage(f"{tag!r} does not start with a language subtag (2-3 letters, as in en-US)")
    normalised = [first]
    in_extension = False
    for position, part in enumerate(subtags[1:], start=1):
        if in_extension or len(part) == 1:
            # A singleton opens an extension or private-use section: lower case from there on.
            in_extension = True
            normalised.append(part.lower())
        elif len(part) == 4 and part.isalpha() and position <= 2:
            normalised.append(part.title())  # script: Hant, Latn
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            normalised.append(part.upper())  # region: US, 419
        else:
            normalised.append(part.lower())  # extlang or variant
    return "-".join(normalised)


def same_language(left: str, right: str) -> bool:
    """Whether two tags name the same language after normalisation."""
    return normalise_language(left) == normalise_language(right)
