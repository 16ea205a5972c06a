"""Every tab of the running app, for every shipped model, at a desktop's and a projector's size, in the normal
page and in presenter view: what a visitor would find wrong (tests/browser/page_helpers.PANEL_PROBLEMS_JS:
empty picture panels, labels over pictures, clipped pictures, text or icons painted on pixels).

    python app.py --port 7860 &                         # the app with the shipped models
    python scripts/check_pages.py http://127.0.0.1:7860/
    python scripts/check_pages.py URL --models emoji-64 --sizes 1280x720 --views present --shots /tmp/shots

Exits 1 when anything is found; prints one line per page. The browser test
(test_first_open_every_tab_has_pictures_and_no_problem_on_them) runs the same check on a tiny model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
# every generator in checkpoints/ (the judges are classifiers, not models the app opens)
SHIPPED = sorted(
    p.name for p in (ROOT / "checkpoints").iterdir() if (p / "model.safetensors").is_file() and "judge" not in p.name
)
TABS = ["walk", "interpolation", "arithmetic", "project", "inside", "train"]


def page_problems(page, settle_seconds: float) -> list[str]:
    """The shown tab's problems once its pictures have come (a worked example takes seconds on first showing):
    polls until none are left or `settle_seconds` pass."""
    from page_helpers import PANEL_PROBLEMS_JS

    deadline = time.monotonic() + settle_seconds
    while True:
        found = page.evaluate(PANEL_PROBLEMS_JS)
        if not found or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--models", nargs="+", default=SHIPPED)
    parser.add_argument("--tabs", nargs="+", default=TABS)
    parser.add_argument("--sizes", nargs="+", default=["1400x1000", "1280x720"])
    parser.add_argument("--views", nargs="+", default=["normal", "present"], choices=["normal", "present"])
    parser.add_argument("--settle", type=float, default=60.0, help="seconds a tab may take to draw its pictures")
    parser.add_argument("--shots", type=Path, help="also save a screenshot of each page here")
    args = parser.parse_args()

    from page_helpers import wait_until_started
    from playwright.sync_api import sync_playwright

    bad = 0
    with sync_playwright() as playwright:
        flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            page = browser.new_page(viewport={"width": width, "height": height})
            for model in args.models:
                for view in args.views:
                    for tab in args.tabs:
                        query = f"?model={model}&tab={tab}" + ("&present=1" if view == "present" else "")
                        page.goto(args.url.rstrip("/") + "/" + query)
                        wait_until_started(page, timeout=120_000)
                        found = page_problems(page, args.settle)
                        bad += len(found)
                        print(f"{size} {model} {view} {tab}: {len(found)} problems {found[:6]}", flush=True)
                        if args.shots:
                            args.shots.mkdir(parents=True, exist_ok=True)
                            page.screenshot(path=str(args.shots / f"{model}-{tab}-{view}-{size}.png"), full_page=True)
            page.close()
        browser.close()
    print(f"{bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
