"""A lecturer's prepared links land on their tab, every time (issue 25).

Gradio selects the first tab by itself while a page starts, and that select sometimes came after the
link's state was applied: the page showed the Latent walk and the address lost its tab=. It happened in
about 1 open in 7 on a busy machine, so this test opens the links many times with a busy-loop process
beside the browser (the race needs a slow start), and checks every open.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("gradio")
from app_server import running_app  # noqa: E402
from page_helpers import wait_until_started  # noqa: E402

# The README's kinds of links, on the test's tiny model: {query: the tab it must open on}.
LINKS = {
    "seed=5&strip=direction%200": "Latent walk",
    "tab=interpolation&a=1&b=2&steps=9&rows=4": "Interpolation",
    "tab=arithmetic&pa=1.18,5.21&pb=1.0&pc=1.15": "Vector arithmetic",
    "tab=inside&look=3&ch=1.2": "Inside the networks",
    "tab=project": "Real images",
    "tab=interpolation&a=3&b=4&present=1": "Interpolation",
    "tab=inside&look=2&present=1": "Inside the networks",
}
# Without the fix, 3 of 12 opens went wrong with a busy loop beside (15 of 100 by hand); the test itself failed on
# its 7th open. One round of the 7 links and their dark-theme reloads is 14 opens (~2 min on a busy 2-core machine):
# a 25% race passes them all with a chance of 1 in 56, a 15% one with 1 in 10.
ROUNDS = 1
SELECTED_TAB_JS = "() => document.querySelector('[role=tab][aria-selected=true]')?.innerText.trim()"


def busy_loop() -> None:
    while True:
        pass


@pytest.fixture(scope="module")
def busy_machine():
    """One core kept busy: the start's steps then take longer, and the race shows (as on a loaded Space)."""
    process = multiprocessing.get_context("spawn").Process(target=busy_loop, daemon=True)
    process.start()
    yield
    process.terminate()
    process.join()


def assert_on_its_tab(page, query: str, tab: str) -> None:
    wait_until_started(page)
    page.wait_for_timeout(300)  # a late select of Gradio's own would land now
    assert page.evaluate(SELECTED_TAB_JS) == tab, (query, page.url)
    link, shown = parse_qs(query), parse_qs(urlparse(page.url).query)
    assert shown.get("tab") == link.get("tab"), (query, page.url)  # the address still says what the link said
    assert shown.get("present") == link.get("present"), (query, page.url)


def test_prepared_links_open_on_their_tab_every_time(busy_machine, tmp_path):
    with running_app(tmp_path) as app_url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        try:
            for _ in range(ROUNDS):
                for query, tab in LINKS.items():
                    page.goto(f"{app_url}?{query}")
                    assert_on_its_tab(page, query, tab)
                    # The "◐ dark theme" link reloads the page with __theme=dark, keeping the rest of the address.
                    theme_link = page.locator("#theme-link a")
                    if theme_link.is_visible():
                        theme_link.click()
                    else:  # presenter view hides the header: the same reload by hand
                        page.goto(f"{page.url}&__theme=dark")
                    page.wait_for_url("**__theme=dark**")
                    assert_on_its_tab(page, query, tab)
        finally:
            browser.close()


def test_each_paper_figure_of_the_inside_tab_has_its_own_presenter_screen(tmp_path):
    """Fig. 5 and Fig. 6 shared one screen (the forgetting link buried its figure under 48 thumbnails, and its
    number was not on it): a link now opens on its figure alone, with its number, and 5 / 6 switch."""
    fig5_parts = ["#inside-image", "#inside-channel-guided", "#inside-channel-untrained"]
    fig6_parts = ["#ablate-before", "#ablate-after", "#ablate-difference", "#ablate-caption"]
    with running_app(tmp_path) as app_url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        try:
            page.goto(f"{app_url}?tab=inside&look=3&gl=0&forget=Shirt&noise=0&present=1")
            wait_until_started(page)
            page.wait_for_function("() => document.querySelector('#ablate-caption')?.innerText.includes('%')")
            page.wait_for_function("() => document.querySelector('#ablate-after img')?.complete")
            for part in fig6_parts:
                assert page.locator(part).is_visible(), part
            for part in [*fig5_parts, '[id^="inside-layer-"]']:
                assert not page.locator(part).first.is_visible(), part
            caption_size = page.evaluate("() => getComputedStyle(document.querySelector('#ablate-caption p')).fontSize")
            assert float(caption_size.removesuffix("px")) >= 20  # the judge's numbers, readable from the back
            labels = page.evaluate(
                "() => getComputedStyle(document.querySelector('#ablate-after'), '::before').content"
            )
            assert "after" in labels  # a short label on the picture's top edge
            box, image = page.locator("#ablate-after").bounding_box(), page.locator("#ablate-after img").bounding_box()
            assert image["y"] >= box["y"] + 16  # below the label, not under it
            assert image["y"] + image["height"] <= 720  # the whole figure on the screen

            page.keyboard.press("5")  # the tab's other figure
            page.wait_for_function(
                "() => document.documentElement.dataset.fig === '5' && location.search.includes('fig=5')"
            )
            assert page.locator("#inside-image").is_visible() and not page.locator("#ablate-after").is_visible()

            page.goto(f"{app_url}?tab=inside&look=3&ch=1.2&present=1")  # a Fig. 5 link: its channel, no ablation
            wait_until_started(page)
            page.wait_for_function("() => document.querySelector('#inside-channel-untrained img')?.complete")
            for part in fig5_parts:
                assert page.locator(part).is_visible(), part
            for part in fig6_parts:
                assert not page.locator(part).is_visible(), part
        finally:
            browser.close()
