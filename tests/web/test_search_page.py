"""The shoppers' search page at ``/``, used in Chromium as a shopper would: words in English
and Chinese, filters whose facet counts follow, a photo, more like this, the explain view,
pages, the keyboard and a phone-sized screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DEMO

RESULTS = "#results > li"


def search(page: Page, words: str) -> None:
    page.get_by_label("Search products").fill(words)
    page.get_by_label("Search products").press("Enter")
    expect(page.locator("#status")).to_contain_text(f"for “{words}”")


def titles(page: Page) -> list[str]:
    return page.locator(f"{RESULTS} .title").all_inner_texts()


def facet_counts(page: Page, name: str) -> dict[str, int]:
    labels = page.locator(f"#facet-{name} label")
    return {
        label.locator("span").first.inner_text(): int(label.locator(".count").inner_text())
        for label in labels.all()
    }


@pytest.mark.parametrize(
    ("words", "first"),
    [("running shoes", "Running shoe"), ("T恤", "T-shirt"), ("plátano", "Banana")],
)
def test_words_in_any_language_find_the_product(page: Page, console, words, first):
    page.goto("/")
    search(page, words)
    expect(page.locator(RESULTS).first.locator(".title")).to_have_text(first)
    card = page.locator(RESULTS).first
    expect(card.locator(".price")).to_have_text(re.compile(r"\$\d+\.\d\d"))
    expect(card.locator(".stock")).to_have_text(re.compile("In stock|Out of stock"))
    expect(card.locator("img.thumb")).to_have_attribute("src", re.compile("^/media/"))
    assert page.evaluate("document.querySelector('#results img').naturalWidth") > 0
    assert "q=" in page.url  # the search can be shared and reloaded
    assert console.errors == []


def test_a_category_filter_narrows_results_and_changes_the_brand_counts(page: Page, console):
    page.goto("/")
    search(page, "shoe")
    brands_before = facet_counts(page, "brand")
    page.locator("#facet-category label", has_text="Shoes").get_by_role("checkbox").check()
    expect(page).to_have_url(re.compile(r"category=Shoes"))
    expect(page.locator("#facet-category input:checked")).to_have_count(1)
    # the cards from before the filter may already start with a shoe: wait until none is left
    wheres = page.locator(f"{RESULTS} .where")
    expect(wheres.filter(has_not_text=re.compile(r"^Shoes ·"))).to_have_count(0)
    expect(wheres.first).to_contain_text("Shoes")
    brands_after = facet_counts(page, "brand")
    assert brands_after != brands_before
    assert sum(brands_after.values()) == 9 == facet_counts(page, "category")["Shoes"]
    assert sum(brands_after.values()) < sum(brands_before.values())

    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#facet-category input:checked")).to_have_count(0)
    expect(page).not_to_have_url(re.compile("category="))
    assert console.errors == []


def test_the_page_stays_busy_until_the_search_that_replaced_another_answers(page: Page):
    held = []  # the searches' requests, answered only when the test lets them through
    page.route("**/api/search?*", lambda route: held.append(route))
    page.goto("/")
    box = page.get_by_label("Search products")
    box.fill("shoe")
    box.press("Enter")
    expect(page.locator("main")).to_have_attribute("aria-busy", "true")
    box.fill("shirt")
    box.press("Enter")  # cancels the "shoe" search, whose end must not clear the mark
    page.wait_for_function("() => 1")  # let the cancelled fetch settle
    assert len(held) == 2
    expect(page.locator("main")).to_have_attribute("aria-busy", "true")
    held[1].continue_()
    expect(page.locator("#status")).to_contain_text("for “shirt”")
    expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")


def test_a_price_bar_and_in_stock_filter_the_cards(page: Page, console):
    page.goto("/?q=shirt")
    bar = page.locator("#price-histogram button").nth(1)  # the second price range
    label = bar.get_attribute("aria-label") or ""
    low, high = (float(x) for x in re.findall(r"[\d.]+(?=[–:])", label)[:2])
    bar.click()
    expect(bar).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_label("From")).to_have_value(re.compile(rf"^{low:g}"))
    page.get_by_label("In stock only").check()
    expect(page).to_have_url(re.compile("in_stock=true"))
    expect(page.locator(f"{RESULTS} .stock.out")).to_have_count(0)
    prices = [
        float(text.strip("$").replace(",", ""))
        for text in page.locator(f"{RESULTS} .price").all_inner_texts()
    ]
    assert prices and all(low <= price <= high for price in prices)
    assert console.errors == []


def test_a_photo_finds_its_product(page: Page, console):
    page.goto("/")
    page.get_by_label("Search by photo").set_input_files(DEMO / "images" / "1f45f.png")
    expect(page.locator("#status")).to_contain_text("your photo")
    expect(page.locator(RESULTS).first.locator(".title")).to_have_text("Running shoe")
    assert console.errors == []


def test_a_file_that_is_not_a_picture_says_so(page: Page):
    page.goto("/")
    page.get_by_label("Search by photo").set_input_files(
        files=[{"name": "shoe.png", "mimeType": "image/png", "buffer": b"not a picture"}]
    )
    expect(page.locator("#status.error")).to_contain_text(re.compile("picture|image", re.I))
    expect(page.locator(RESULTS)).to_have_count(0)


def test_more_like_this_and_back(page: Page, console):
    page.goto("/")
    search(page, "running shoes")
    page.locator(RESULTS).first.get_by_role("button", name="More like this").click()
    expect(page.locator("#status")).to_contain_text("products like “Running shoe”")
    expect(page).to_have_url(re.compile("similar=VT-1F45F"))
    similar = titles(page)
    assert "Running shoe" not in similar
    assert sum("shoe" in title.lower() or "boot" in title.lower() for title in similar[:5]) >= 3
    page.go_back()
    expect(page.locator("#status")).to_contain_text("for “running shoes”")
    expect(page.get_by_label("Search products")).to_have_value("running shoes")
    assert console.errors == []


def test_the_explain_view_shows_each_signal_and_the_matched_terms(page: Page, console):
    page.goto("/?q=running+shoes")
    card = page.locator(RESULTS).first
    card.get_by_text("Why this result?").click()
    rows = card.locator(".explain tbody tr")
    expect(rows.first).to_be_visible()
    signals = dict(zip(rows.locator("th").all_inner_texts(), rows.all(), strict=True))
    assert "keywords" in signals
    assert signals["keywords"].locator("td").first.inner_text() == "1"  # its rank
    expect(card.locator(".matched")).to_contain_text(re.compile("matched: .*running"))
    assert console.errors == []


def test_pages_of_results(page: Page, console):
    page.goto("/?q=food")
    expect(page.locator(RESULTS)).to_have_count(12)
    first_page = titles(page)
    page.get_by_role("button", name="Next →").click()
    expect(page.locator("#page-number")).to_have_text("Page 2")
    expect(page).to_have_url(re.compile("offset=12"))
    expect(page.locator("#status")).to_contain_text("Results 13–")
    assert not set(titles(page)) & set(first_page)
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#page-number")).to_have_text("Page 1")
    assert titles(page) == first_page
    assert console.errors == []


def test_everything_has_a_label_and_works_from_the_keyboard(page: Page, console):
    page.goto("/")
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input, button, select, textarea')]
             .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                             && !el.textContent.trim())
             .map((el) => el.outerHTML)"""
    )
    assert unlabelled == []
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to results")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search products")).to_be_focused()
    page.keyboard.type("umbrella")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("for “umbrella”")
    page.get_by_role("button", name="More like this").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("products like")
    assert console.errors == []


def test_it_works_on_a_phone_sized_screen(page: Page, console):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?q=running+shoes")
    expect(page.locator(RESULTS).first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    category = page.locator("#facet-category")
    expect(category).to_be_hidden()
    toggle = page.get_by_role("button", name="Filters", exact=True)
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.locator("#facet-category label", has_text="Shoes").get_by_role("checkbox").check()
    expect(page).to_have_url(re.compile("category=Shoes"))
    assert console.errors == []
