"""The app in a real browser: Debian's chromium driven by playwright, against the app on 127.0.0.1.

Each test opens a tab, does what a teacher would (drag a slider, click samples, run an
interpolation, project an image) and checks that the picture on screen changed. Screenshots
go to tests/output/ (gitignored): look at them after a change to the UI.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.request import urlopen

import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[1] / "output"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("gradio")
from app_server import running_app  # noqa: E402
from page_helpers import (  # noqa: E402
    PANEL_PROBLEMS_JS,
    image_src,
    panel_problems,
    wait_for_gradio_image,
    wait_for_image,
    wait_until_started,
)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser-app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    wait_until_started(page)
    wait_for_image(page, "#walk-image")
    yield page
    page.close()


def shot(page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def image_bytes(page, selector: str) -> bytes:
    numbers = page.evaluate(
        """async (selector) => {
            const response = await fetch(document.querySelector(selector + ' img').src);
            return Array.from(new Uint8Array(await response.arrayBuffer()));
        }""",
        selector,
    )
    return bytes(numbers)


def pixels(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).tobytes()


def drag_slider(page, selector: str, fraction: float) -> None:
    """Press on the slider's track, move to `fraction` of its width, let go (-> .release).

    The slider is scrolled into view and measured just before the drag (images loading above it
    move it); the drag must change the slider's value, else the test would wait for nothing.
    """
    slider = page.locator(f"{selector} input[type=range]")
    slider.scroll_into_view_if_needed()
    before = slider.input_value()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=4)
    page.mouse.up()
    assert slider.input_value() != before, f"dragging {selector} to {fraction} left it at {before}"


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_walk_sliders_move_the_image_and_the_url_restores_it(page, browser):
    previews = []  # the fast path: on release the page fetches the picture itself (dcgan/ui/walk.py)
    page.on("response", lambda r: previews.append(r) if "walk-preview.png" in r.url else None)
    before = image_src(page, "#walk-image")
    src, strip = before, image_src(page, "#walk-strip")
    for i, fraction in enumerate((0.9, 0.15, 0.7, 0.3, 0.85)):
        drag_slider(page, f"#walk-dim-{i % 2}", fraction)
        wait_for_image(page, "#walk-image", not_src=src)  # the preview, or Gradio's image if it came first
        src = wait_for_gradio_image(page, "#walk-image")  # then the event's own image, state updated
        strip = wait_for_image(page, "#walk-strip", not_src=strip)  # the strip follows the image
        # The preview showed the very picture the event then sent.
        assert previews and previews[-1].status == 200
        with urlopen(previews[-1].url) as preview:  # (playwright keeps no body for a fetch read as a blob)
            assert pixels(preview.read()) == pixels(image_bytes(page, "#walk-image"))
    assert len(previews) == 5 and src != before
    drag_slider(page, "#walk-direction-0", 0.8)
    src = wait_for_image(page, "#walk-image", not_src=src)
    page.wait_for_function("() => (new URLSearchParams(window.location.search).get('k') || '').startsWith('0:')")
    wait_for_gradio_image(page, "#walk-image")
    shot(page, "walk")

    shared_link = page.url
    assert "d=" in shared_link and "seed=" in shared_link
    expected = pixels(image_bytes(page, "#walk-image"))  # the pixels: the PNG's text chunks carry its settings
    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        other.goto(shared_link)
        wait_for_image(other, "#walk-image")  # the first image a visitor sees is the restored one
        assert pixels(image_bytes(other, "#walk-image")) == expected
    finally:
        other.close()


def test_random_seed_and_strip(page):
    before = image_src(page, "#walk-image")
    strip_before = image_src(page, "#walk-strip")
    page.locator("#walk-random").click()
    wait_for_image(page, "#walk-image", not_src=before)
    wait_for_image(page, "#walk-strip", not_src=strip_before)


def test_interpolation_runs_and_redraws(page):
    open_tab(page, "Interpolation")
    lerp = wait_for_image(page, "#interp-lerp")
    slerp = wait_for_image(page, "#interp-slerp")
    page.locator("#interp-random").click()
    wait_for_image(page, "#interp-lerp", not_src=lerp)
    wait_for_image(page, "#interp-slerp", not_src=slerp)
    page.wait_for_selector(".js-plotly-plot")
    shot(page, "interpolation")


def test_arithmetic_picks_exemplars(page):
    open_tab(page, "Vector arithmetic")
    thumbnails = page.locator("#arith-gallery button.thumbnail-item")
    thumbnails.first.wait_for()
    page.wait_for_function(  # the tab opens with a worked example; clear it to pick our own
        "() => document.querySelector('#arith-caption').innerText.includes('A worked example')", timeout=60_000
    )
    page.get_by_role("button", name="clear all").click()
    page.wait_for_function("() => document.querySelector('#arith-caption').innerText.includes('Still empty')")
    for group, indices in (("A", (0, 1)), ("B", (2,)), ("C", (3, 4))):
        page.locator("#arith-group").get_by_label(group).check()
        for index in indices:
            thumbnails.nth(index).click()
            page.wait_for_timeout(150)
    averaged = wait_for_image(page, "#arith-averaged")
    wait_for_image(page, "#arith-single")
    wait_for_image(page, "#arith-neighbourhood")
    assert "mean of 2 A" in page.locator("#arith-caption").inner_text()
    page.locator("#arith-group").get_by_label("B").check()
    thumbnails.nth(5).click()  # a second B exemplar changes B's mean and so the result
    wait_for_image(page, "#arith-averaged", not_src=averaged)
    shot(page, "arithmetic")


def test_projection_then_walk_from_it(page, tmp_path):
    from PIL import Image, ImageDraw

    photo = Image.new("RGB", (120, 90), "white")
    ImageDraw.Draw(photo).rectangle((35, 15, 85, 80), fill="black")  # a dark shape on light: needs "invert"
    photo.save(tmp_path / "jacket.jpg")
    open_tab(page, "Real images")
    page.locator("#project-upload input[type=file]").set_input_files(str(tmp_path / "jacket.jpg"))
    page.get_by_label("invert").check()
    page.locator("#project-run").click()
    wait_for_image(page, "#project-original", timeout=60_000)  # a heavy request: slower on a busy machine
    wait_for_image(page, "#project-reconstruction")
    page.wait_for_function(
        "() => document.querySelector('#project-status').innerText.includes('step 300/300')", timeout=60_000
    )
    shot(page, "real-images")
    walk_before = image_src(page, "#walk-image")
    page.get_by_role("button", name="walk from it").click()
    wait_for_image(page, "#walk-image", not_src=walk_before)
    assert "jacket" in page.get_by_text("Walking from").inner_text()
    page.wait_for_function("() => window.location.search.includes('z=')")  # the projected z travels in the URL


def test_inside_the_networks_channel_click_and_ablation(page):
    open_tab(page, "Inside the networks")
    page.locator("#inside-run").click()
    wait_for_image(page, "#inside-image")
    wait_for_image(page, "#inside-guided")
    assert "% real" in page.locator("#inside-verdict").inner_text()
    thumbnails = page.locator("#inside-layer-1 button.thumbnail-item")
    thumbnails.first.wait_for()
    thumbnails.first.click()
    wait_for_image(page, "#inside-channel-top")
    first_channel = wait_for_image(page, "#inside-channel-max")
    thumbnails.nth(1).click()
    wait_for_image(page, "#inside-channel-max", not_src=first_channel)  # another channel, another picture
    page.locator("#ablate-run").click()
    before = wait_for_image(page, "#ablate-before")
    after = wait_for_image(page, "#ablate-after")
    assert before != after
    wait_for_image(page, "#ablate-difference")
    page.locator("#ablate-class input").click()
    page.get_by_role("option", name="Shirt", exact=True).click()  # the untrained tiny model draws shirts
    page.locator("#ablate-run").click()
    page.wait_for_function(
        "() => document.querySelector('#ablate-caption').innerText.includes('linear probe')", timeout=60_000
    )
    assert wait_for_image(page, "#ablate-after", not_src=after) != after
    shot(page, "inside")


def test_train_tab_shows_the_servers_job_to_a_visitor(page, tmp_path):
    """A job started elsewhere (another visitor, here the API) streams into this page; Stop ends it."""
    from helpers import blob_images
    from PIL import Image

    from dcgan.serve.jobs import wait_until
    from dcgan.ui.training import MANAGER, start_job

    folder = tmp_path / "blobs"
    folder.mkdir()
    for i, pixels in enumerate(blob_images(64, size=32)):
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    settings = dict(family="paper", image_size=32, ngf=8, ndf=8, upsample="transposed", g_batchnorm=True)
    settings |= dict(d_batchnorm=True, noise="normal", g_loss="nonsaturating", label_smoothing=0.0, lr_g=2e-4)
    settings |= dict(lr_d=2e-4, beta1=0.5, batch_size=32, epochs=200, augment=False, data=str(folder))
    settings["steps"] = 5000  # long enough to be still running at the end (400 steps can end in ~10 s)
    start_job(settings, tmp_path / "runs")
    try:
        open_tab(page, "Train")
        grid = wait_for_image(page, "#train-grid", timeout=60_000)  # the job's first grid: slow on a busy machine
        wait_for_image(page, "#train-grid", not_src=grid, timeout=60_000)  # a newer grid streams in
        page.wait_for_selector("#train-curves .js-plotly-plot")
        assert "running" in page.locator("#train-status").inner_text()
        # The CPU recipe fills in its knobs (for the next job; this one keeps its own).
        page.locator("#train-recipe").get_by_label("fast on this CPU").check()
        page.wait_for_function("() => document.querySelector('#train-batch input').value === '32'")
        assert page.locator("#train-ema").get_by_label("0.999", exact=True).is_checked()
        assert page.locator("#train-lr-g input").input_value() == "0.0003"
        shot(page, "train")
        # A link to the Train tab opens it with its refresh running (it only ticks while the tab is shown).
        linked = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            linked.goto(page.url.split("?")[0] + "?tab=train")
            wait_until_started(linked)  # a page's start redraws every tab: long while a job has the CPU
            first_grid = wait_for_image(linked, "#train-grid", timeout=60_000)
            wait_for_image(linked, "#train-grid", not_src=first_grid, timeout=60_000)
        finally:
            linked.close()
        # Not this page's job: it may watch, not stop (the page's own job: test_train_tab_owner_...).
        assert "you can watch it" in page.locator("#train-status").inner_text()
        assert not page.locator("#train-start").is_visible()  # Start could only say "wait" (issue 25)
        page.locator("#train-stop").click()
        page.locator(".toast-body").first.wait_for()
        assert "you can watch it" in page.locator(".toast-body").first.inner_text()
        assert not MANAGER.job.trainer.stop_requested
        MANAGER.job.stop()
        assert wait_until(lambda: MANAGER.job.finished, timeout=60)
        page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('stopped')")
        page.locator("#train-start").wait_for(state="visible")  # the server is free again: Start is back
    finally:
        MANAGER.job.stop()
        MANAGER.job.wait(60)


def test_train_tab_owner_starts_and_after_a_reload_still_stops_its_job(page, tmp_path, monkeypatch):
    """The page that clicks Start owns the job through a key in its localStorage (gr.BrowserState)."""
    from helpers import blob_images
    from PIL import Image

    from dcgan.serve.jobs import wait_until
    from dcgan.ui.training import MANAGER

    folder = tmp_path / "data" / "blobs"
    folder.mkdir(parents=True)
    # 640 images: 20 steps an epoch, 4,000 in the 200 epochs asked for, so the job is still running after the
    # reload (with 64 it could finish by itself, ~10 s on a quiet machine, and the page then says "done").
    for i, pixels in enumerate(blob_images(640, size=32)):
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    monkeypatch.setenv("DCGAN_DATA_ROOTS", str(folder.parent))
    open_tab(page, "Train")
    page.locator("#train-data").get_by_label("server folder").check()
    page.locator("#train-folder input").fill(str(folder))
    page.locator("#train-folder input").press("Enter")
    for width in ("#train-ngf", "#train-ndf"):  # a tiny model: the CPU is shared
        page.locator(f"{width} input[type=number]").fill("8")
        page.locator(f"{width} input[type=number]").press("Enter")
    page.locator("#train-epochs input").fill("200")
    page.locator("#train-recipe").get_by_label("fast on this CPU").check()  # batch 32
    page.wait_for_function("() => document.querySelector('#train-batch input').value === '32'")
    page.locator("#train-start").click()
    try:
        page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('You started')")
        assert MANAGER.job.trainer.model_config.ngf == 8 and not MANAGER.job.finished
        page.reload()
        wait_until_started(page)  # a click before that can be undone by the start's own tab selection
        open_tab(page, "Train")  # the URL's tab=train may have opened it already; a click makes sure
        page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('You started')")
        page.locator("#train-stop").click()
        assert wait_until(lambda: MANAGER.job.finished, timeout=60)
        page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('stopped')")
    finally:
        MANAGER.job.stop()
        MANAGER.job.wait(60)


def test_a_corrupt_upload_shows_the_reason_not_a_bare_error(page, tmp_path):
    (tmp_path / "notes.png").write_text("not really a picture")
    open_tab(page, "Real images")
    page.locator("#project-upload input[type=file]").set_input_files(str(tmp_path / "notes.png"))
    page.locator("#project-run").click()
    toast = page.locator(".toast-body").first
    toast.wait_for()
    assert "notes.png: not a readable image" in toast.inner_text() and "Traceback" not in toast.inner_text()


def test_a_shared_link_repaints_the_arithmetic_and_inside_figures(browser, tmp_path):
    """Links hold the arithmetic picks and what the Inside tab drew: opening one paints the same figures.
    Its own server: the module's has spent this address's share of heavy work on the tests before."""
    with running_app(tmp_path) as app_url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(app_url + "?tab=arithmetic&batch=3&pa=3.0,3.1&pb=3.2&pc=3.3")
            wait_for_image(page, "#arith-averaged", timeout=60_000)
            assert "(mean of 2 A) − B + C" in page.locator("#arith-caption").inner_text()
            page.goto(app_url + "?tab=inside&look=3&ch=1.2&gl=1&zero=0,3&noise=5")
            for selector in ("#inside-image", "#inside-guided", "#inside-channel-max", "#ablate-after"):
                wait_for_image(page, selector, timeout=60_000)  # look, channel view, ablation: seconds each
            assert "generated, seed 3" in page.locator("#inside-verdict").inner_text()
            assert "layer 1, channel 2" in page.locator("#inside-channel-title").inner_text()
            assert "channels 0, 3 of layer 1" in page.locator("#ablate-caption").inner_text()
            assert "look=3" in page.url and "ch=1.2" in page.url and "noise=5" in page.url  # the link stays
        finally:
            page.close()


# ---- presenter view (dcgan/ui/presenter.py): a 1280x720 projector ----------------------------------------------

PROJECTOR = {"width": 1280, "height": 720}
PRESENTING_JS = "() => document.documentElement.classList.contains('dcgan-present')"


@pytest.fixture
def projector(browser, app_url):
    """A page at a projector's size, opened from a prepared link (?present=1)."""
    page = browser.new_page(viewport=PROJECTOR)
    page.goto(app_url + "?present=1")
    wait_until_started(page)  # a key pressed during the start's redraws races them
    wait_for_image(page, "#walk-image")
    yield page
    page.close()


def test_presenter_view_shows_the_walk_large_and_no_controls(projector):
    page = projector
    assert page.evaluate(PRESENTING_JS)
    box = page.locator("#walk-image img").bounding_box()
    assert box["height"] >= 0.6 * PROJECTOR["height"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR["height"], box  # all of it, no scrolling
    strip = page.locator("#walk-strip img").bounding_box()
    assert strip["y"] + strip["height"] <= PROJECTOR["height"], strip
    for control in ("#model-choice", "#walk-random", "#walk-dim-0", "#walk-direction-0", "#app-intro"):
        assert not page.locator(control).is_visible(), control
    assert not page.get_by_label("seed (Enter to apply)").is_visible()
    assert "Paper Fig. 4" in page.locator("#presenter-caption-walk").inner_text()
    shot(page, "presenter-walk")

    page.locator("#presenter-toggle").click()  # and back: the toggle and the URL agree
    page.wait_for_function(f"() => !({PRESENTING_JS})() && !location.search.includes('present=')")
    assert page.locator("#model-choice").is_visible() and page.locator("#walk-dim-0").is_visible()
    page.locator("#presenter-toggle").click()
    page.wait_for_function(f"() => ({PRESENTING_JS})() && location.search.includes('present=1')")
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => !({PRESENTING_JS})()")


def test_presenter_arrow_keys_move_the_walk_and_redraw(projector):
    page = projector
    src, url = image_src(page, "#walk-image"), page.url
    page.keyboard.press("ArrowRight")  # the first direction, one step
    src = wait_for_image(page, "#walk-image", not_src=src)
    page.wait_for_function("(old) => location.href !== old && new URLSearchParams(location.search).has('k')", arg=url)
    src = wait_for_gradio_image(page, "#walk-image")  # the move's own redraw, after the fast preview
    assert "present=1" in page.url  # the redraw kept the view
    url = page.url
    page.keyboard.press("ArrowLeft")
    wait_for_image(page, "#walk-image", not_src=src)  # (was the preview's src: passed before the key did anything)
    page.wait_for_function("(old) => location.href !== old", arg=url)


def test_a_move_made_while_the_page_starts_stays_in_the_url(browser, tmp_path, monkeypatch):
    """A key pressed while the start's redraws still run: a redraw that read the state before the move must
    not leave the URL (the link a teacher shares) without it. A slow tab, registered for the test, reads the
    state, waits until the move has landed, then sends its stale query."""
    import threading

    import gradio as gr

    from dcgan.ui import common, tabs
    from dcgan.ui.session import query_string

    has_read, moved = threading.Event(), threading.Event()

    def stale_redraw(state):
        before_the_move = query_string(state)
        has_read.set()
        moved.wait(30)
        return before_the_move

    def slow_tab(context: tabs.TabContext) -> tabs.TabView:
        gr.Markdown("slow")
        return tabs.TabView(common.Refresh(stale_redraw, [context.state], [context.query]))

    monkeypatch.setattr(tabs, "TABS", [*tabs.TABS, tabs.TabSpec("slow", "Slow", slow_tab)])
    with running_app(tmp_path) as app_url:
        page = browser.new_page(viewport=PROJECTOR)
        try:
            page.goto(app_url + "?present=1")
            assert has_read.wait(60)
            url = page.url
            page.keyboard.press("ArrowRight")
            page.wait_for_function("(old) => location.href !== old && location.search.includes('k=')", arg=url)
            wait_for_gradio_image(page, "#walk-image")  # the move's own event: the state has it
            moved.set()
            wait_until_started(page)
            assert "k=0" in page.url
        finally:
            moved.set()
            page.close()


def test_arrow_keys_on_a_focused_walk_slider_redraw(page):
    """The bug issue 15 reports: a key moved the slider's number but not the image or the URL."""
    src, url = image_src(page, "#walk-image"), page.url
    slider = page.locator("#walk-dim-0 input[type=range]")
    slider.focus()
    for _ in range(25):  # 0.25 in steps of 0.01
        page.keyboard.press("ArrowRight")
    wait_for_image(page, "#walk-image", not_src=src)
    page.wait_for_function("(old) => location.href !== old && location.search.includes('d=')", arg=url)


# ---- first open (issue 16): every tab shows a worked example, labels above pictures ----------------------------


@pytest.mark.parametrize("viewport", [(1400, 1000), (1280, 720)], ids=["desktop", "projector"])
def test_first_open_every_tab_has_pictures_and_no_problem_on_them(browser, tmp_path, viewport):
    """A first-time visitor opens each tab in turn, then switches to presenter view and goes through them
    again (the Inside tab's two figures both): no picture panel stays empty (each tab draws a worked example),
    no picture is clipped, and no label, chip or icon sits on a picture's pixels (PANEL_PROBLEMS_JS). Its own
    server: no job and no visitor state before. scripts/check_pages.py runs the same check on the shipped models."""
    with running_app(tmp_path) as app_url:
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        size = f"{viewport[0]}x{viewport[1]}"
        try:
            page.goto(app_url)
            wait_for_image(page, "#walk-image", timeout=60_000)
            found = {}

            def check(screen: str) -> None:
                try:  # the worked example is computed on the tab's first showing: seconds on a busy machine
                    page.wait_for_function(f"() => ({PANEL_PROBLEMS_JS})().length === 0", timeout=60_000)
                except sync_api.TimeoutError:
                    found[screen] = panel_problems(page)
                shot(page, f"first-open-{screen}-{size}")

            tabs = [name.strip() for name in page.get_by_role("tab").all_inner_texts()]
            for tab in tabs:
                open_tab(page, tab)
                check(tab.lower().replace(" ", "-"))
            page.locator("#presenter-toggle").click()
            page.wait_for_function(PRESENTING_JS)
            for tab in tabs:
                open_tab(page, tab)
                check("presenter-" + tab.lower().replace(" ", "-"))
                if tab == "Inside the networks":  # its second figure (Fig. 6), key 6
                    page.keyboard.press("6")
                    page.wait_for_function("() => document.documentElement.dataset.fig === '6'")
                    check("presenter-inside-fig6")
            assert found == {}
        finally:
            page.close()
