"""Repeat reports (重复反映): the same applicant reporting the same dispute again, through any channel.

Pure. The same applicant is found by a blind index of the phone; "the same dispute" is decided here from
the texts, the categories and the places.
"""

from __future__ import annotations

from .classify import features

# Jaccard similarity of the texts' features (words + character bigrams).
SAME_TEXT = 0.5  # this alike: the same dispute whatever the category or place says
SIMILAR_TEXT = 0.2  # this alike, same category and no conflicting place: the same dispute


def similarity(a: str, b: str) -> float:
    fa, fb = set(features(a)), set(features(b))
    if not fa or not fb:
        return 0.0
    return len(fa & fb) / len(fa | fb)


def same_dispute(
    new_text: str, new_category: str, new_unit: str | None, old_text: str, old_category: str, old_unit: str | None
) -> bool:
    sim = similarity(new_text, old_text)
    if sim >= SAME_TEXT:
        return True
    places_agree = new_unit is None or old_unit is None or new_unit == old_unit
    return new_category == old_category and places_agree and sim >= SIMILAR_TEXT
