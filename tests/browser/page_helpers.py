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


# What a first-time visitor would find wrong on the shown tab (the same rules as ../shared/tools/first_open.py,
# plus two of issue 25's):
# - "empty": a picture panel (image, gallery, plot) with nothing in it; upload boxes may be empty;
# - "label over picture": a panel's label drawn over its picture;
# - "clipped": a picture whose drawn pixels are cut by a box around it (a two-line label pushing a fixed-height
#   image down, a gallery too short for its rows), or drawn with object-fit: cover at another aspect;
# - "over pixels": text, an icon or a button painted on a picture's pixels (a corner chip on a thumbnail, a
#   download icon on a strip's last frame). Where the picture is letterboxed (object-fit: contain), the bars
#   beside its pixels are free to hold icons.
PANEL_PROBLEMS_JS = """() => {
  const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const shown = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const problems = [];
  const nameOf = (el) => {
    const block = el.closest('.block');
    const label = block && block.querySelector('[data-testid="block-label"]');
    return (label ? label.innerText.trim() : '') || el.closest('[id]')?.id || el.tagName.toLowerCase();
  };
  document.querySelectorAll('[data-testid="block-label"]').forEach(label => {
    const labelBox = label.getBoundingClientRect();
    if (labelBox.width === 0 || labelBox.height === 0) return;  // on another tab, or hidden
    const block = label.closest('.block');
    if (!block || block.querySelector('input[type=file]')) return;
    const pictures = [...block.querySelectorAll('img, canvas, .js-plotly-plot, video')]
      .filter(p => shown(p) && (p.tagName !== 'IMG' || (p.complete && p.naturalWidth > 0)));
    const name = label.innerText.trim();
    if (pictures.length === 0) problems.push('empty: ' + name);
    else if (pictures.some(p => hit(labelBox, p.getBoundingClientRect()))) problems.push('label over picture: ' + name);
  });
  // The rectangle an <img> paints its pixels in, after object-fit (centred, as by default).
  const drawn = (img) => {
    const r = img.getBoundingClientRect(), fit = getComputedStyle(img).objectFit;
    const nw = img.naturalWidth, nh = img.naturalHeight;
    let scale = 1;
    const shrinks = fit === 'contain' || (fit === 'scale-down' && (nw > r.width || nh > r.height));
    if (shrinks) scale = Math.min(r.width / nw, r.height / nh);
    else if (fit === 'fill' || fit === 'cover') return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
    const w = nw * scale, h = nh * scale, left = r.left + (r.width - w) / 2, top = r.top + (r.height - h) / 2;
    return {left, top, right: left + w, bottom: top + h};
  };
  const opaque = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.visibility === 'hidden' || s.display === 'none' || parseFloat(s.opacity) < 0.05) return false;
    }
    return true;
  };
  const images = [...document.querySelectorAll('img')]
    .filter(img => shown(img) && img.complete && img.naturalWidth > 0 && opaque(img));
  // what paints on top of a picture: text, icons, buttons and other pictures
  const painters = [...document.querySelectorAll('button, svg, img, canvas, span, p, label, div, a')].filter(el =>
    shown(el) && (el.matches('button, svg, img, canvas') ||
                  [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) && opaque(el));
  for (const img of images) {
    const box = drawn(img), area = (box.right - box.left) * (box.bottom - box.top);
    if (area < 4) continue;
    let seen = {...box};
    for (let e = img.parentElement; e && e !== document.body; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const r = e.getBoundingClientRect();
      seen = {left: Math.max(seen.left, r.left), top: Math.max(seen.top, r.top),
              right: Math.min(seen.right, r.right), bottom: Math.min(seen.bottom, r.bottom)};
    }
    const seenArea = Math.max(0, seen.right - seen.left) * Math.max(0, seen.bottom - seen.top);
    const r = img.getBoundingClientRect();
    const aspect = img.naturalWidth / img.naturalHeight;
    const croppedByFit = getComputedStyle(img).objectFit === 'cover'
      && Math.abs(r.width / r.height - aspect) > 0.03 * aspect;
    if (seenArea < 0.97 * area || croppedByFit) { problems.push('clipped: ' + nameOf(img)); continue; }
    const inner = {left: seen.left + 2, top: seen.top + 2, right: seen.right - 2, bottom: seen.bottom - 2};
    const over = painters.find(el => el !== img && !el.contains(img) && hit(inner, el.getBoundingClientRect()));
    const what = over && (over.innerText || over.getAttribute('aria-label') || over.tagName).trim().slice(0, 30);
    if (over) problems.push('over pixels: ' + nameOf(img) + ' <- ' + what);
  }
  return [...new Set(problems)];
}"""


def panel_problems(page) -> list[str]:
    return page.evaluate(PANEL_PROBLEMS_JS)
