"""README screenshots: the app with the shipped models, each tab after a typical action, in Debian's chromium.

    python scripts/screenshots.py            # writes assets/screenshots/<tab>.png

Look at every PNG it writes before committing them.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "browser"))
OUT = ROOT / "assets" / "screenshots"


def main() -> int:
    from page_helpers import wait_for_image
    from playwright.sync_api import sync_playwright

    from dcgan.ui import build_app, launch

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = build_app(ROOT / "checkpoints", ROOT / "runs", Path("/tmp/dcgan-screenshot-uploads"))
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/?seed=7")
            wait_for_image(page, "#walk-image", timeout=60_000)
            wait_for_image(page, "#walk-strip", timeout=60_000)
            page.screenshot(path=str(OUT / "walk.png"), full_page=True)

            page.get_by_role("tab", name="Interpolation").click()
            wait_for_image(page, "#interp-slerp", timeout=60_000)
            page.wait_for_selector(".js-plotly-plot")
            page.wait_for_timeout(500)
            page.screenshot(path=str(OUT / "interpolation.png"), full_page=True)

            page.get_by_role("tab", name="Vector arithmetic").click()  # it opens with its worked example
            page.wait_for_function(
                "() => document.querySelector('#arith-caption').innerText.includes('A worked example')", timeout=60_000
            )
            for selector in ("#arith-neighbourhood", "#arith-class-strip"):
                wait_for_image(page, selector, timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(OUT / "arithmetic.png"), full_page=True)

            page.get_by_role("tab", name="Real images").click()
            page.get_by_role("button", name="take an image from the model's dataset").click()
            page.wait_for_function("() => document.querySelector('#project-upload').innerText.includes('.png')")
            page.locator("#project-run").click()
            wait_for_image(page, "#project-original", timeout=60_000)
            page.wait_for_function(
                "() => document.querySelector('#project-status').innerText.includes('step 300/300')", timeout=120_000
            )
            wait_for_image(page, "#project-reconstruction", timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(OUT / "real-images.png"), full_page=True)

            page.get_by_role("tab", name="Inside the networks").click()
            page.locator("#inside-run").click()
            page.locator("#inside-layer-1 button.thumbnail-item").first.wait_for()
            page.locator("#inside-layer-1 button.thumbnail-item").first.click()
            wait_for_image(page, "#inside-channel-max", timeout=60_000)
            page.locator("#ablate-run").click()
            wait_for_image(page, "#ablate-after", timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(OUT / "inside.png"), full_page=True)

            # A small Fashion-MNIST job (ngf/ndf 16, 1 epoch) started the way the Start button does.
            from dcgan.serve.jobs import wait_until
            from dcgan.ui.training import MANAGER, start_job

            settings = dict(family="paper", image_size=32, ngf=16, ndf=16, upsample="transposed", g_batchnorm=True)
            settings |= dict(d_batchnorm=True, noise="normal", g_loss="nonsaturating", label_smoothing=0.0)
            settings |= dict(lr_g=2e-4, lr_d=2e-4, beta1=0.5, batch_size=128, epochs=1, augment=False)
            start_job(settings | {"data": "fashion-mnist"}, Path("/tmp/dcgan-screenshot-runs"))
            page.get_by_role("tab", name="Train").click()
            wait_until(lambda: MANAGER.job.finished, timeout=900)  # one epoch: the grid has sharpened
            page.wait_for_timeout(2500)  # the page's 2 s timer picks the new grids up
            page.screenshot(path=str(OUT / "train.png"), full_page=True)
            MANAGER.job.stop()
            MANAGER.job.wait(60)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
