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


def test_a_name_in_japanese_kanji_is_left_alone(glossary):
    # 転 is CC-CEDICT's "Japanese variant of 轉": 自転車 is Japanese for a bicycle, which a
    # Chinese gloss would read character by character.
    assert glossary.english("自転車") is None
    assert glossary.english("自行车") == "bicycle"


@pytest.mark.parametrize("text", ["running shoes", "Tシャツ", "운동화", "123"])
def test_text_without_chinese_is_left_alone(glossary, text):
    assert glossary.english(text) is None


def test_a_word_takes_its_first_sense_the_catalog_carries(glossary):
    # CC-CEDICT lists 比萨 as the town of Pisa first and as pizza second.
    assert glossary.english("比萨") == "Pisa, town in Toscana, Italy"
    asked: list[str] = []

    def sells_pizza(sense):
        asked.append(sense)
        return sense == "pizza"

    assert glossary.english("比萨", carried=sells_pizza) == "pizza"
    assert asked == ["Pisa, town in Toscana, Italy", "pizza"]
    # A catalog that carries none of the senses gets the first one, as without a catalog.
    assert glossary.english("比萨", carried=lambda sense: False) == "Pisa, town in Toscana, Italy"


def test_senses_are_asked_about_only_until_one_is_carried(glossary):
    asked: list[str] = []

    def carries_everything(sense):
        asked.append(sense)
        return True

    # T恤 has one sense: nothing to choose. 比萨's first sense is carried: the second is not
    # asked about.
    assert glossary.english("T恤比萨", carried=carries_everything) == (
        "T-shirt Pisa, town in Toscana, Italy"
    )
    assert asked == ["Pisa, town in Toscana, Italy"]


def test_a_senses_content_words_leave_out_english_function_words(glossary):
    assert glossary.content_words("go to the office") == ["office"]
    assert glossary.content_words("Pisa, town in Toscana, Italy") == [
        "pisa",
        "town",
        "toscana",
        "italy",
    ]


@pytest.mark.parametrize(
    ("text", "english"),
    [("卡拉ok", "karaoke"), ("卡拉OK", "karaoke"), ("唱k", "sing karaoke"), ("ok绷", "band-aid")],
)
def test_dictionary_words_with_latin_letters_are_found_in_any_case(glossary, text, english):
    # Before, "卡拉ok" missed the headword 卡拉OK and became "Kara, city in northern Togo 多哥 ok".
    assert glossary.english(text) == english


@pytest.mark.parametrize(
    ("text", "english"),
    [
        # CC-CEDICT cross-references: "Zhangzhou 漳州[Zhang1 zhou1]", "長沙市|长沙市[Chang2 sha1
        # shi4]", "dou 斗[dou3]"; an antonym note ("opposite: new 新") is no meaning of 旧,
        # whose first meaning, "old", was taken for a label before.
        ("平和", "Pinghe county in Zhangzhou, Fujian"),
        ("芙蓉", "Furong district of Changsha city, Hunan"),
        ("石壶", "dry measure for grain equal to ten dou pot"),
        ("旧钥匙", "old key"),
    ],
)
def test_glosses_hold_no_chinese_and_no_readings(glossary, text, english):
    assert glossary.english(text) == english


def test_a_query_is_as_many_words_as_the_dictionary_reads_in_it(glossary):
    assert glossary.words("糖葫芦") == 1  # one headword, however long its sense
    assert glossary.words("冬天保暖的手套") == 3  # winter, keep warm, glove; 的 is dropped
    assert glossary.words("卡拉ok") == 1
    assert glossary.words("running shoes") == 0  # nothing to gloss
