"""Dictionary definitions of product names: what a product's text vector learns to say."""

from __future__ import annotations

import numpy as np
import pytest

from backend.catalog.models import Product
from backend.encoders import text_encoder
from backend.errors import ConfigurationError
from backend.indexing import collection_spec, product_text_vectors
from backend.search.definitions import Dictionary, dictionary_for, wordnet_folder


@pytest.fixture(scope="module")
def wordnet() -> Dictionary:
    dictionary = dictionary_for("wordnet")
    assert dictionary is not None
    return dictionary


@pytest.fixture(scope="module")
def minilm():
    return text_encoder("minilm")


def definition_of(wordnet, minilm, title: str, context: str) -> str | None:
    return wordnet.define([title], minilm.encode([context]), minilm)[0]


def test_a_name_is_looked_up_by_its_longest_known_ending_in_the_singular(wordnet):
    assert "canopy" in wordnet.senses("Closed umbrella")[0].definition
    assert "laboratory" in wordnet.senses("Lab coat")[0].definition
    assert {"box"} <= set(wordnet.senses("Boxes")[0].words)
    assert any("foot" in s.words for s in wordnet.senses("Feet"))  # an irregular plural


def test_places_and_people_are_not_products(wordnet):
    senses = wordnet.senses("Bikini")
    assert senses and all("atoll" not in s.definition for s in senses)
    assert "bathing suit" in senses[0].definition


def test_a_name_the_dictionary_lacks_gets_no_definition(wordnet, minilm):
    assert wordnet.senses("Zqxv") == []
    assert definition_of(wordnet, minilm, "Zqxv", "Zqxv. gadget") is None


@pytest.mark.slow
def test_the_sense_is_the_one_nearest_the_products_own_words(wordnet, minilm):
    # WordNet's gloves are handwear, a baseball mitt and a boxing glove.
    warm = definition_of(wordnet, minilm, "Gloves", "Gloves. winter, warm, wool, hand. Clothing")
    boxing = definition_of(wordnet, minilm, "Gloves", "Gloves. boxing, punch, fight. Sports")
    assert warm is not None and "handwear" in warm and "baseball" not in warm
    assert boxing is not None and "box" in boxing


@pytest.mark.slow
def test_a_shoppers_description_finds_the_product_its_definition_describes(wordnet, minilm):
    # "anchor: a mechanical device that prevents a vessel from moving"
    titles = ["Ladder", "Hammer", "Telescope", "Socks", "Plunger", "Umbrella", "Kite", "Anchor"]
    products = [
        Product(sku=f"P-{i}", title=t, keywords=[], category="Home", brand="Acme")
        for i, t in enumerate(titles)
    ]
    query = minilm.encode(["to keep my boat from drifting away"])[0]

    def rank(dictionary):
        scores = product_text_vectors(products, minilm, dictionary) @ query
        return np.argsort(-scores).tolist().index(titles.index("Anchor")) + 1

    assert rank(wordnet) == 1
    assert rank(None) > 1


def test_the_index_records_which_definitions_its_text_vectors_carry(wordnet, minilm):
    image = type("Image", (), {"name": "efficientnet-lite0-gem", "dim": 1392})()
    with_definitions = collection_spec(minilm, image, None, wordnet)
    assert with_definitions.encoders["text"] == "minilm+wordnet-3.0"
    assert collection_spec(minilm, image, None, None).encoders["text"] == "minilm"


def test_definitions_are_chosen_by_setting(tmp_path):
    assert dictionary_for("none") is None
    assert dictionary_for("wordnet").folder == wordnet_folder()
    with pytest.raises(ConfigurationError, match="not a WordNet dict folder"):
        dictionary_for(str(tmp_path))
