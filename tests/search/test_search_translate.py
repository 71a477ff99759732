"""Chinese queries in English words: what the English-only text encoder gets to read."""

from __future__ import annotations

import pytest

from backend.search.translate import Glossary


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary()


def test_a_shoppers_chinese_sentence_becomes_its_content_words(glossary):
    english = glossary.english("冬天保暖的手套")
    assert english is not None
    words = english.split()
    assert "winter" in words and "glove" in words
    assert "of" not in words  # 的, a particle, is dropped


def test_product_names_gloss_to_their_english_names(glossary):
    assert glossary.english("T恤") == "T-shirt"
    assert glossary.english("跑鞋") == "running shoes"


def test_traditional_characters_are_read_too(glossary):
    assert glossary.english("運動鞋") == glossary.english("运动鞋") == "sports shoes"


@pytest.mark.parametrize("text", ["running shoes", "Tシャツ", "운동화", "123"])
def test_text_without_chinese_is_left_alone(glossary, text):
    assert glossary.english(text) is None
