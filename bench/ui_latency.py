"""What a visitor feels: cold start, memory, and release-to-painted latency in a real browser.

    python bench/ui_latency.py                  # the shipped default model, 50 slider moves
    python bench/ui_latency.py --moves 20 --model checkpoints/fashion-mnist-32
    python bench/ui_latency.py --compare /tmp/old-checkout --rounds 2   # this tree vs another, alternating

Starts `python app.py` as a user would (a subprocess on a free port), times it until the page
is served, reads its resident memory, then drives Debian's chromium through playwright: drags a
latent slider `--moves` times (timing each release until the new image has loaded in the page),
runs 9-frame interpolations, arithmetic results, inside-D looks and ablations. Prints p50/p95/max per
interaction beside the targets (slider p95 < 100 ms, interpolation < 300 ms, cold start < 8 s, memory < 1 GB).
With --compare, the app of another checkout (e.g. a `git worktree` at an older commit) is measured in
alternating rounds with this one, and both are printed side by side with their ratio (the machine is
shared and noisy: alternating spreads its noise over both).
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


def start_app(port: int, model: str | None, root: Path = ROOT) -> tuple[subprocess.Popen, float]:
    """`python app.py` of the checkout at `root`, and its cold start in seconds (until the page is served)."""
    command = [sys.executable, "app.py", "--port", str(port)] + (["--model", model] if model else [])
    started = time.perf_counter()
    env = os.environ | {"DCGAN_RUNS": tempfile.mkdtemp(prefix="ui-latency-runs-")}  # --while-training's run goes here
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


INTERACTIONS = {  # what is timed -> its target
    "latent slider release -> new image painted": "p95 < 100 ms",
    "... -> the Gradio event's state update done": "-",
    "interpolation (4 rows x 9 frames, lerp + slerp)": "< 300 ms",
    "arithmetic result after a pick": "-",
    "look inside D (verdict, saliency, 4 layers)": "-",
    "ablation (zero filters, 16 samples before/after)": "-",
}
COLD_START = "cold start: `python app.py` -> page served"
MEMORY = "resident memory of the app after the run (MB)"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(name: str, values: list[float], target: str) -> str:
    p95 = percentile(values, 0.95)
    return f"| {name} | {len(values)} | {statistics.median(values):.0f} | {p95:.0f} | {max(values):.0f} | {target} |"


def measure(root: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    """One app start from `root` and one browser session: every interaction's timings (ms), cold start, memory."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {name: [] for name in INTERACTIONS}
    slider, settled, interpolation, arithmetic, inside, ablation = times.values()
    port = free_port()
    process, cold_start = start_app(port, args.model, root)
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
            for i in range(args.repeats):
                page.locator("#arith-group").get_by_label("C").check()
                arithmetic.append(timed_change(page, "#arith-averaged", thumbnails.nth(3 + i % 20).click))
                page.wait_for_timeout(200)
            page.get_by_role("tab", name="Inside the networks").click()
            for i in range(args.repeats):  # a new seed each time: a new picture
                page.get_by_label("seed (generated)").fill(str(i + 1))
                inside.append(timed_change(page, "#inside-guided", page.locator("#inside-run").click))
                page.wait_for_timeout(600)  # the fairness limiter spaces a visitor's heavy requests
            for i in range(args.repeats):
                page.get_by_label("channels to zero (e.g. 0, 5, 12)").fill(f"{i}, {i + 1}")
                ablation.append(timed_change(page, "#ablate-after", page.locator("#ablate-run").click))
                page.wait_for_timeout(600)
            if args.while_training:
                page.get_by_role("tab", name="Train").click()
                page.locator("#train-stop").click()
                page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('stopped')")
            browser.close()
        times[MEMORY] = [resident_mb(process.pid)]
    finally:
        process.terminate()
        process.wait(30)
    times[COLD_START] = [1000 * cold_start]
    return times


def heading(args: argparse.Namespace) -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    training = "; while the app trains a model" if args.while_training else ""
    model = Path(args.model).name if args.model else "default model"
    return f"\n{time.strftime('%Y-%m-%d')}, {model}{training}; load {load}"


def print_one(times: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(heading(args))
    print("| interaction | n | p50 ms | p95 ms | max ms | target |")
    print("|---|---|---|---|---|---|")
    for name, target in INTERACTIONS.items():
        print(summary(name, times[name], target))
    print(f"| {COLD_START} | 1 | {times[COLD_START][0]:.0f} | | | < 8000 ms |")
    print(f"| {MEMORY} | 1 | {times[MEMORY][0]:.0f} | | | < 1024 MB |")


def print_compared(before: dict[str, list[float]], after: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(heading(args) + f"; before = {args.compare}, after = {ROOT}, {args.rounds} alternating rounds")
    print("| interaction | n | before p50 | after p50 | after/before | before p95 | after p95 | after/before |")
    print("|---|---|---|---|---|---|---|---|")
    for name in [*INTERACTIONS, COLD_START, MEMORY]:
        old, new = before[name], after[name]
        p50s = statistics.median(old), statistics.median(new)
        p95s = percentile(old, 0.95), percentile(new, 0.95)
        print(
            f"| {name} | {len(new)} | {p50s[0]:.0f} | {p50s[1]:.0f} | {p50s[1] / p50s[0]:.2f} "
            f"| {p95s[0]:.0f} | {p95s[1]:.0f} | {p95s[1] / p95s[0]:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10, help="interpolations, arithmetic results, looks timed")
    parser.add_argument("--model", help="a model folder to open first (default: the shipped Fashion-MNIST model)")
    parser.add_argument(
        "--while-training",
        action="store_true",
        help="start the Train tab's job (its defaults: Fashion-MNIST, the paper's recipe), measure while it runs",
    )
    parser.add_argument("--compare", type=Path, help="another checkout to measure against this one (its app.py)")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare: alternating rounds of each")
    args = parser.parse_args(argv)
    if not args.compare:
        print_one(measure(ROOT, args), args)
        return 0
    before: dict[str, list[float]] = {}
    after: dict[str, list[float]] = {}
    for round_number in range(args.rounds):
        order = [(args.compare, before), (ROOT, after)]
        for root, times in order if round_number % 2 == 0 else order[::-1]:  # ABBA: neither always goes first
            for name, values in measure(root, args).items():
                times.setdefault(name, []).extend(values)
    print_compared(before, after, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
