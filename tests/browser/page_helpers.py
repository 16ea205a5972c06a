"""Reading a Gradio page in chromium: shared by the browser tests, scripts/screenshots.py and bench/ui_latency.py."""

from __future__ import annotations

# True once `selector` shows a fully loaded image whose src differs from `old` (null: any image).
NEW_IMAGE_JS = """([selector, old]) => {
    const img = document.querySelector(selector + ' img');
    return img && img.complete && img.naturalWidth > 0 && img.getAttribute('src') !== old;
}"""


def wait_until_started(page, timeout: float = 60_000) -> None:
    """Wait for the page's start (the load's redraws and the shown tab's worked example) to have finished:
    its last step marks <html data-ready="1"> (dcgan/ui/session.py READY_JS). Keys and clicks before that
    race the start's redraws."""
    page.wait_for_function("() => document.documentElement.dataset.ready === '1'", timeout=timeout)


def image_src(page, selector: str) -> str | None:
    return page.evaluate(f"() => document.querySelector('{selector} img')?.getAttribute('src') ?? null")


def wait_for_image(page, selector: str, not_src: str | None = None, timeout: float = 30_000) -> str:
    """Wait until `selector` shows a loaded image whose src differs from `not_src`; returns the src."""
    page.wait_for_function(NEW_IMAGE_JS, arg=[selector, not_src], timeout=timeout)
    return image_src(page, selector)


# True once `selector` shows the image a Gradio event sent (a data: or file URL), not the walk's
# fast-path preview (a blob: URL, see dcgan/ui/walk.py), which comes first after a slider release.
GRADIO_IMAGE_JS = """(selector) => {
    const img = document.querySelector(selector + ' img');
    return img && img.complete && !img.getAttribute('src').startsWith('blob:');
}"""


def wait_for_gradio_image(page, selector: str, timeout: float = 30_000) -> str:
    page.wait_for_function(GRADIO_IMAGE_JS, arg=selector, timeout=timeout)
    return image_src(page, selector)


# What a first-time visitor would find wrong on the shown tab: picture panels (image, gallery, plot) with
# nothing in them, and labels drawn over a picture's pixels. Upload boxes may be empty. The same rules as
# ../shared/tools/first_open.py, which the project is checked with by hand.
PANEL_PROBLEMS_JS = """() => {
  const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const problems = [];
  document.querySelectorAll('[data-testid="block-label"]').forEach(label => {
    const labelBox = label.getBoundingClientRect();
    if (labelBox.width === 0 || labelBox.height === 0) return;  // on another tab, or hidden
    const block = label.closest('.block');
    if (!block || block.querySelector('input[type=file]')) return;
    const pictures = [...block.querySelectorAll('img, canvas, .js-plotly-plot, video')]
      .filter(p => p.getBoundingClientRect().width > 0 && (p.tagName !== 'IMG' || (p.complete && p.naturalWidth > 0)));
    const name = label.innerText.trim();
    if (pictures.length === 0) problems.push('empty: ' + name);
    else if (pictures.some(p => hit(labelBox, p.getBoundingClientRect()))) problems.push('label over picture: ' + name);
  });
  return problems;
}"""


def panel_problems(page) -> list[str]:
    return page.evaluate(PANEL_PROBLEMS_JS)
