"""What a visitor feels: cold start, memory, and release-to-painted latency in a real browser.

    python bench/ui_latency.py                  # the shipped default model, 50 slider moves
    python bench/ui_latency.py --moves 20 --model checkpoints/fashion-mnist-32

Starts `python app.py` as a user would (a subprocess on a free port), times it until the page
is served, reads its resident memory, then drives Debian's chromium through playwright: drags a
latent slider `--moves` times (timing each release until the new image has loaded in the page),
runs 9-frame interpolations, and arithmetic results. Prints p50/p95/max per interaction beside
the targets (slider p95 < 100 ms, interpolation < 300 ms, cold start < 8 s, memory < 1 GB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from page_helpers import NEW_IMAGE_JS, image_src, wait_for_gradio_image  # noqa: E402
from procs import free_port, resident_mb  # noqa: E402  (bench/procs.py)


def start_app(port: int, model: str | None) -> tuple[subprocess.Popen, float]:
    command = [sys.executable, "app.py", "--port", str(port)] + (["--model", model] if model else [])
    started = time.perf_counter()
    env = os.environ | {"DCGAN_RUNS": tempfile.mkdtemp(prefix="ui-latency-runs-")}  # --while-training's run goes here
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.perf_counter() - started < 120:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                if response.status == 200:
                    return process, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the app did not start within 120 s")


# Timed inside the page, so the numbers hold what a visitor waits for and not playwright's own round
# trips (~40 ms a look): the release (pointerup, also part of a click) and the frame after the new
# image's load event. Listeners on window run before the page's own (the walk's fast path stops the
# pointerup it holds at document).
PAINT_CLOCK_JS = """() => {
    window.benchPaints = [];
    window.addEventListener('pointerup', () => { window.benchInput ??= performance.now(); }, true);
    document.addEventListener('load', (event) => {
        const img = event.target;
        if (img.tagName !== 'IMG') return;
        const src = img.getAttribute('src');
        requestAnimationFrame(() => window.benchPaints.push([src, performance.now()]));
    }, true);
}"""

# The src of a new, loaded image in `selector` (false until there is one).
NEW_SRC_JS = """([selector, old]) => {
    const img = document.querySelector(selector + ' img');
    const src = img && img.getAttribute('src');
    return img && img.complete && img.naturalWidth > 0 && src !== old && src;
}"""

PAINT_LATENCY_JS = """([src, started]) => {
    const painted = window.benchPaints.find(([s, at]) => s === src && at >= started);
    return painted ? painted[1] - window.benchInput : null;
}"""


def timed_change(page, selector: str, action) -> float:
    """Milliseconds from the release in `action()` to a new image painted in `selector`."""
    old = image_src(page, selector)
    started = page.evaluate("() => { window.benchInput = null; return performance.now(); }")
    action()
    src = page.wait_for_function(NEW_SRC_JS, arg=[selector, old], timeout=30_000, polling=50).json_value()
    latency = None
    while latency is None:  # the paint's frame may still be due
        latency = page.evaluate(PAINT_LATENCY_JS, [src, started])
    return latency


def drag(page, selector: str, fraction: float):
    slider = page.locator(f"{selector} input[type=range]")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=3)
    return lambda: page.mouse.up()


def start_training(page) -> None:
    """Start the app's own training job from the Train tab and wait until it is training."""
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-start").click()
    training = "() => /step [1-9]/.test(document.querySelector('#train-status').innerText)"
    page.wait_for_function(training, timeout=120_000)
    page.get_by_role("tab", name="Latent walk").click()
    page.wait_for_timeout(1000)


def summary(name: str, values: list[float], target: str) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"| {name} | {len(values)} | {statistics.median(values):.0f} | {p95:.0f} | {max(values):.0f} | {target} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10, help="interpolations and arithmetic results timed")
    parser.add_argument("--model", help="a model folder to open first (default: the shipped Fashion-MNIST model)")
    parser.add_argument(
        "--while-training",
        action="store_true",
        help="start the Train tab's job (its defaults: Fashion-MNIST, the paper's recipe), measure while it runs",
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    port = free_port()
    process, cold_start = start_app(port, args.model)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(script=f"({PAINT_CLOCK_JS})()")
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(NEW_IMAGE_JS, arg=["#walk-image", None], timeout=60_000)
            page.wait_for_timeout(1000)  # let the first strip and rankings settle
            if args.while_training:
                start_training(page)
            slider, settled = [], []
            for move in range(args.moves):
                fraction = 0.15 + 0.7 * ((move * 0.37) % 1.0)  # spread over the track, never the same twice
                release = drag(page, f"#walk-dim-{move % 2}", fraction)
                started = time.perf_counter()
                slider.append(timed_change(page, "#walk-image", release))
                # The preview (a blob: URL) comes first; wait for the Gradio event's own image too, so it
                # can't pass for the next move's image. (Timed from here, playwright's round trips included.)
                wait_for_gradio_image(page, "#walk-image")
                settled.append(1000 * (time.perf_counter() - started))
                page.wait_for_timeout(150)  # a person pauses between moves; the strip redraw finishes
            page.get_by_role("tab", name="Interpolation").click()
            page.wait_for_function(NEW_IMAGE_JS, arg=["#interp-slerp", None], timeout=60_000)
            interpolation = []
            for _ in range(args.repeats):
                interpolation.append(timed_change(page, "#interp-slerp", page.locator("#interp-random").click))
                page.wait_for_timeout(200)
            page.get_by_role("tab", name="Vector arithmetic").click()
            thumbnails = page.locator("#arith-gallery button.thumbnail-item")
            thumbnails.first.wait_for()
            for group, index in (("A", 0), ("B", 1), ("C", 2)):
                page.locator("#arith-group").get_by_label(group).check()
                thumbnails.nth(index).click()
                page.wait_for_timeout(300)
            page.wait_for_function(NEW_IMAGE_JS, arg=["#arith-averaged", None], timeout=60_000)
            arithmetic = []
            for i in range(args.repeats):
                page.locator("#arith-group").get_by_label("C").check()
                arithmetic.append(timed_change(page, "#arith-averaged", thumbnails.nth(3 + i % 20).click))
                page.wait_for_timeout(200)
            if args.while_training:
                page.get_by_role("tab", name="Train").click()
                page.locator("#train-stop").click()
                page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('stopped')")
            browser.close()
        memory = resident_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    training = "; while the app trains a model" if args.while_training else ""
    model = Path(args.model).name if args.model else "default model"
    print(f"\n{time.strftime('%Y-%m-%d')}, {model}{training}; load {load}")
    print("| interaction | n | p50 ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|---|")
    print(summary("latent slider release -> new image painted", slider, "p95 < 100 ms"))
    print(summary("... -> the Gradio event's state update done", settled, "-"))
    print(summary("interpolation (4 rows x 9 frames, lerp + slerp)", interpolation, "< 300 ms"))
    print(summary("arithmetic result after a pick", arithmetic, "-"))
    print(f"| cold start: `python app.py` -> page served | 1 | {1000 * cold_start:.0f} | | | < 8000 ms |")
    print(f"| resident memory of the app after the run | 1 | {memory:.0f} MB | | | < 1024 MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
