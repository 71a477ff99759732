"""The search path's planning on the loaded demo catalog: which signals a query gets."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from backend.api.results import search_service
from backend.errors import InvalidRequest


@pytest.fixture
def service(demo_app):
    with demo_app.app_context():
        return search_service()


def names(plan) -> list[str]:
    return [signal.name for signal in plan.signals]


def test_deployment_weights_replace_the_per_query_choice_of_signals(service):
    weighted = replace(service, weights={"text": 0.0}, hybrid_fusion="rrf")
    plan = weighted.plan_text("something warm to wear on my hands when it snows")
    assert names(plan) == ["keywords", "fused"]
    assert plan.why is None
    assert names(service.plan_text("something warm to wear on my hands when it snows")) == ["text"]


def test_japanese_for_an_english_only_encoder_goes_to_the_multilingual_encoder(service):
    plan = service.plan_text("ランニングシューズ")
    # No product carries these words: no keywords.
    assert names(plan) == ["multilingual", "names"]
    assert plan.translated is None
    # Without a multilingual encoder only the keyword signal can read it.
    assert names(replace(service, multilingual=None).plan_text("ランニングシューズ")) == [
        "keywords"
    ]


def test_japanese_in_kanji_alone_goes_to_the_multilingual_encoder(service):
    # 自転車 (bicycle) has 転, a character Chinese does not write, so it is not glossed.
    plan = service.plan_text("自転車")
    assert plan.translated is None
    assert names(plan) == ["multilingual", "names"]
    assert service.search_text("自転車", limit=1)[0].payload["title"] == "Bicycle"


def test_a_request_for_one_signal_mode_is_never_reduced(service):
    assert names(service.plan_text("t-shirt", mode="text")) == ["text"]
    assert names(service.plan_text("t-shirt", mode="keyword")) == ["keywords"]


def test_a_query_with_no_words_to_match_has_no_keyword_signal(service):
    plan = service.plan_text("!!!", mode="hybrid")
    assert "keywords" not in names(plan)


def test_weights_for_a_picture_choose_between_image_and_fused(service):
    picture = Image.new("RGB", (64, 64), "red")
    assert names(service.plan_image(picture, mode="hybrid")) == ["image", "fused"]
    assert names(service.plan_image(picture, mode="hybrid", weights={"fused": 0})) == ["image"]
    weighted = service.plan_image(picture, mode="hybrid", fusion="dbsf", weights={"image": 3})
    assert weighted.weights == (3.0, 1.0)
    with pytest.raises(InvalidRequest, match="whole-number"):
        service.plan_image(picture, mode="hybrid", fusion="dbsf", weights={"image": 1.5})


def test_a_chinese_tag_is_glossed_in_the_sense_the_catalog_sells(service):
    # CC-CEDICT's first sense of 比萨 is the town of Pisa; the demo catalog sells a pizza
    # (its own Chinese title is 披萨, so no product carries the typed words).
    assert service.glossary.english("比萨") == "Pisa, town in Toscana, Italy"
    plan = service.plan_text("比萨")
    assert plan.translated == "pizza"
    assert service.search_text("比萨", limit=1)[0].payload["sku"] == "VT-1F355"
    assert service.plan_text("比萨", mode="text").translated == "pizza"


def test_a_products_own_chinese_name_keeps_the_first_senses(service):
    # 意粉 is the spaghetti's title: the words the fusion head learnt for it are the first
    # senses ("Italy powder"), though the catalog carries a later sense of 意 ("idea").
    plan = service.plan_text("意粉")
    assert plan.translated == service.glossary.english("意粉") == "Italy powder"
    assert service.search_text("意粉", limit=1)[0].payload["sku"] == "VT-1F35D"


def test_one_chinese_word_is_never_a_description_however_long_its_sense(service):
    # 糖葫芦 (candied haws on a stick) is one dictionary word with a ten-word first sense.
    assert len(service.glossary.english("糖葫芦").split()) == 10
    plan = service.plan_text("糖葫芦")
    assert "description" not in plan.why
    assert {"keywords", "text", "fused"} <= set(names(plan))
    # A description in Chinese still is one: several words, a long gloss.
    assert "description" in service.plan_text("夏天去海边穿的露脚尖的").why
