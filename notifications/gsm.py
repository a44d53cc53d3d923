"""GSM 03.38: what fits in one SMS segment, and French text made to fit the GSM-7 alphabet.

A message written only with GSM-7 characters takes 160 septets per segment (153 each when
split); one single character outside it (ê, ç, ’…) makes the whole message UCS-2, 70
characters per segment. So we transliterate: é, è, à, ù, É stay (they are in the alphabet),
the other French accents lose theirs.
"""

import math
import unicodedata

# The basic character set (one septet each) and its extension table (two septets each:
# an escape, then the character).
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑܧ¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENDED = frozenset("^{}\\[~]|€\f")

SINGLE_SEGMENT_SEPTETS = 160
MULTI_SEGMENT_SEPTETS = 153
SINGLE_SEGMENT_UCS2 = 70
MULTI_SEGMENT_UCS2 = 67

# What a French text needs beyond simply dropping accents.
REPLACEMENTS = {
    "ç": "c", "Ç": "Ç", "œ": "oe", "Œ": "OE", "æ": "æ",
    "’": "'", "‘": "'", "ʼ": "'", "«": '"', "»": '"', "“": '"', "”": '"', "„": '"',
    "–": "-", "—": "-", "‑": "-", "−": "-", "…": "...", "•": "-",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ",
}


def is_gsm7(text):
    return all(ch in BASIC or ch in EXTENDED for ch in text)


def septets(text):
    """Septets `text` takes in GSM-7, or None when it can't be written in GSM-7."""
    if not is_gsm7(text):
        return None
    return sum(2 if ch in EXTENDED else 1 for ch in text)


def transliterate(text):
    """The closest GSM-7 text: keep what the alphabet has, strip other accents, '?' last."""
    out = []
    for ch in text:
        if ch in BASIC or ch in EXTENDED:
            out.append(ch)
        elif ch in REPLACEMENTS:
            out.append(REPLACEMENTS[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and is_gsm7(base) else "?")
    return "".join(out)


def segment_count(text):
    """How many segments an operator bills for `text`."""
    count = septets(text)
    if count is not None:
        return 1 if count <= SINGLE_SEGMENT_SEPTETS else math.ceil(count / MULTI_SEGMENT_SEPTETS)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= SINGLE_SEGMENT_UCS2 else math.ceil(units / MULTI_SEGMENT_UCS2)


def fits_one_segment(text):
    count = septets(text)
    return count is not None and count <= SINGLE_SEGMENT_SEPTETS
