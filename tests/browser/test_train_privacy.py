"""What the Train tab leaves in the visitor's browser: not the host's token (issue 24). Gradio 6 keeps a run
history of public events, their inputs included, in localStorage; a token typed on a shared classroom
machine would stay there for the next person at it."""

from __future__ import annotations

import uuid

import pytest
from test_browser import CHROMIUM, app_url, browser, open_tab, page  # noqa: F401 (fixtures used by name)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"),
]

STORAGE_JS = "() => JSON.stringify(Object.entries(window.localStorage))"


def test_the_host_token_typed_in_the_train_tab_stays_out_of_local_storage(page):  # noqa: F811
    token = f"typed-host-token-{uuid.uuid4().hex}"
    open_tab(page, "Train")
    page.get_by_text("host", exact=True).click()  # the accordion
    page.locator("#train-host-token input").fill(token)
    for button in ("#train-pause", "#train-stop"):  # no job runs: each answers with a message, and is a run
        page.locator(button).click()
        page.locator(".toast-body").first.wait_for()
        assert "no training job is running" in page.locator(".toast-body").first.inner_text()
    open_tab(page, "Latent walk")
    page.locator("#walk-random").click()  # a public event: the run history records it, inputs and all
    page.wait_for_function(f"() => ({STORAGE_JS})().includes('/walk_random')")
    stored = page.evaluate(STORAGE_JS)
    assert "gradio:run-history" in stored and token not in stored
