"""The Gradio app: a model picker on top of the tabs registered in dcgan/ui/tabs.py, each its own module.

    demo = build_app(checkpoints_dir="checkpoints", runs_dir="runs")
    launch(demo, server_port=7860)

Nothing outside dcgan/ui imports gradio; the tabs only compose dcgan library calls.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import gradio as gr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dcgan.errors import DcganError
from dcgan.explore.explorer import default_seed
from dcgan.serve.hosting import HostLimits
from dcgan.ui import (
    arithmetic,
    common,
    fairness,
    housekeeping,
    inside,
    picker,
    presenter,
    projection,
    quiet_errors,
    tabs,
    walk,
)
from dcgan.ui.model_cache import Catalog, warm
from dcgan.ui.session import READY_JS, UPDATE_URL_JS, VisitorState, query_string

ASSETS = Path(__file__).resolve().parents[2] / "assets"  # the repository's pictures (README, model cards)

# Pixel art stays pixel art: the browser scales our small PNGs with nearest-neighbour too.
CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
#walk-image img { object-fit: contain; }
/* the strips come at 1x (cheaper PNGs); shown at the column's width */
#interp-lerp .image-frame, #interp-slerp .image-frame, #interp-lerp img, #interp-slerp img { width: 100%; }
#interp-lerp img, #interp-slerp img { height: auto; object-fit: contain; }
#no-model { border: 2px solid var(--color-accent); border-radius: 8px; padding: 0 1em; }
/* Galleries fit their column: Gradio's columns are at least 100 px wide, which cut off the last ones */
.fit-gallery .grid-container { grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important; }
.fit-gallery .grid-wrap { min-height: 0 !important; max-height: none !important; height: auto !important; }
/* A picture's label above it, never over its pixels (it hid a strip's first frames, a 3x3 grid's top row),
   leaving the row's right end to the picture's icons (download, fullscreen), which sat on the pixels */
.block > label.float[data-testid="block-label"] { position: static !important; margin-bottom: 4px;
  max-width: calc(100% - 64px); }
.block:has(> label.float[data-testid="block-label"]) :is(.image-container, .grid-wrap)
  > .icon-button-wrapper.top-panel { top: -31px !important; }
/* A fixed-height picture block (gr.Image(height=...): Gradio writes the height first in its style) stacks its
   label and its picture, and the picture gets the height the label leaves: a two-line label pushed the
   picture down and the block's overflow cut off its bottom rows (a 3x3 grid showed 2) */
.block[style^="height:"]:has(> .image-container) { display: flex !important; flex-direction: column; }
.block[style^="height:"] > .image-container { flex: 1 1 0; min-height: 0; }
/* A gallery's captions (#7, ch 22) under their thumbnails, not on them */
.fit-gallery .thumbnail-item { flex-direction: column; height: auto !important; }
.fit-gallery .thumbnail-item img { height: auto !important; aspect-ratio: 1; }
.fit-gallery .caption-label { position: static !important; transform: none !important; margin: 0 auto;
  max-width: 100% !important; padding: 0 2px !important; background: none !important; }
"""


# Gradio's images load lazily, so the figures below the fold are still blank when a lecturer scrolls to them
# on a projector (and to a screenshot). Ours are small PNGs: load them at once.
EAGER_IMAGES_SCRIPT = """<script>
new MutationObserver(() => document.querySelectorAll('img[loading="lazy"]').forEach(img => { img.loading = "eager"; }))
  .observe(document.documentElement, {childList: true, subtree: true, attributes: true, attributeFilter: ["src"]});
</script>"""


def launch(demo: gr.Blocks, **options):
    """demo.launch(**options) with the app's look and its own HTTP routes (see build_app)."""
    routes = getattr(demo, "dcgan_routes", [])
    catalog: Catalog = demo.dcgan_catalog
    housekeeping.start(demo, catalog.uploads_dir, catalog.limits, lambda: common.EXPORT_ROOT)
    return demo.launch(
        css=CSS + presenter.CSS,
        theme=gr.themes.Soft(),
        head=walk.PREVIEW_SCRIPT + presenter.SCRIPT + EAGER_IMAGES_SCRIPT,
        app_kwargs={"routes": routes},
        max_file_size=catalog.limits.max_upload_bytes,
        state_session_capacity=housekeeping.SESSION_CAPACITY,
        **options,
    )


# One line at 1280 px: on a projector every header pixel is taken from the pictures.
INTRO = (
    "**DCGAN Explorer** What did the generator learn? Walk its latent space, interpolate, do vector "
    "arithmetic, find real images in it. The address bar always links back to what you see."
)


def build_app(
    checkpoints_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    uploads_dir: str | Path | None = None,
    models: list[str] | None = None,
    warm_default: bool = True,
    limits: HostLimits | None = None,
) -> gr.Blocks:
    """The whole app. Folders default to $DCGAN_CHECKPOINTS / $DCGAN_RUNS / $DCGAN_UPLOADS, else
    checkpoints/, runs/ and ~/.cache/dcgan-explorer/uploads; `models` are extra folders or Hub ids
    (the first is shown first)."""
    catalog = Catalog(
        checkpoints_dir=Path(checkpoints_dir or os.environ.get("DCGAN_CHECKPOINTS", "checkpoints")),
        runs_dir=Path(runs_dir or os.environ.get("DCGAN_RUNS", "runs")),
        uploads_dir=Path(uploads_dir or os.environ.get("DCGAN_UPLOADS", "") or picker.uploads_default()),
        extra_models=list(models or []),
        limits=limits or HostLimits(),
    )
    picker.serve_card_files(catalog.checkpoints_dir, ASSETS)  # the shipped cards' sample grids and GIFs
    default = catalog.default_name()
    if warm_default:
        # the default model's rankings and every tab's worked example are ready before a visitor asks,
        examples = [default_seed, inside.example_look, arithmetic.example_work, projection.example_projection]
        # then the other shipped models: a class's prepared links open them too
        shipped = [label for label, _ in catalog.choices() if catalog.source_of(label) == "shipped"]
        warm(catalog, [default, *(name for name in shipped if name != default and "judge" not in name)], examples)

    with gr.Blocks(title="DCGAN Explorer", delete_cache=housekeeping.GRADIO_CACHE_DELETE) as demo:
        demo.dcgan_catalog = catalog
        demo.dcgan_routes = [Route(f"/{walk.PREVIEW_PATH}", _walk_preview_endpoint(catalog))]
        state = gr.State(VisitorState(model=default))
        query = gr.Textbox(visible=False)  # the shareable query string; the browser copies it to the URL
        with gr.Row(equal_height=True, elem_id="app-header"):
            gr.Markdown(INTRO, elem_id="app-intro", scale=10)
            presenter.header_controls(state, query)
        model_events, (on_load, load_outputs), _ = picker.build(catalog, state, default)
        specs = list(tabs.TABS)  # read once: a test may register a tab by replacing the list
        with gr.Tabs(selected=specs[0].id) as tab_bar:
            built = tabs.build_tabs(specs, tabs.TabContext(catalog, state, query, tab_bar))
        refreshes = [view.refresh for _, view in built.values() if view.refresh is not None]
        timers = {tab_id: view.timer for tab_id, (_, view) in built.items() if view.timer is not None}
        examples = {tab_id: _first_open(tab_id, view.example) for tab_id, (_, view) in built.items() if view.example}

        def redraw_all(event) -> None:
            """After the model (or, on load, the whole state) changed: redraw every tab, the shown tab's worked
            example, then the URL."""
            for refresh in refreshes:
                event = event.success(refresh.fn, refresh.inputs, refresh.outputs, api_visibility="private")
                # the URL at once (a browser-only step): the walk's fast path reads the page's URL, and the tabs
                # after it take a while
                event = event.success(None, query, None, js=UPDATE_URL_JS)
            for example in examples.values():  # each does nothing unless its tab is the one shown
                event = event.success(example.fn, example.inputs, example.outputs, api_visibility="private")
            # Last, the URL from the state as it is now: a slider moved meanwhile (its event skips the queue)
            # may have been written over by a step that had read the state before the move.
            event = event.then(query_string, state, query, queue=False, api_visibility="private")
            # The state's tab once more: a tab select Gradio made by itself meanwhile was ignored (see
            # _remember_tab), but it may have switched the view.
            event = event.then(select, state, [tab_bar, *timers.values()], api_visibility="private", queue=False)
            event.then(None, query, None, js=READY_JS)

        select = _tab_selector([spec.id for spec in specs], list(timers))
        for event in model_events:
            redraw_all(event)
        loaded = demo.load(on_load, state, load_outputs, api_visibility="private")
        shown = loaded.success(select, state, [tab_bar, *timers.values()], api_visibility="private", queue=False)
        redraw_all(shown)

        _wire_tab_selects(built, state, query, timers, examples)
    quiet_errors.install(demo)  # Gradio's own refusals of a request's values: one log line, not a traceback
    return demo


def _wire_tab_selects(
    built: dict[str, tuple[gr.Tab, tabs.TabView]],
    state: gr.State,
    query: gr.Textbox,
    timers: dict[str, gr.Timer],
    examples: dict[str, common.Refresh],
) -> None:
    """A visitor's tab click: the state and URL remember the tab, its timer alone ticks, and its worked example
    is drawn on its first showing."""
    select_origin = gr.Textbox(visible=False)  # "visitor" or "start": see TAB_SELECT_ORIGIN_JS
    for tab_id, (tab, _) in built.items():
        shown_tab = tab.select(
            _remember_tab(tab_id, list(timers)),
            [state, select_origin],
            [state, query, *timers.values()],
            js=TAB_SELECT_ORIGIN_JS,
            api_visibility="private",
            queue=False,
        )
        if tab_id in examples:
            example = examples[tab_id]
            shown_tab = shown_tab.success(example.fn, example.inputs, example.outputs, api_visibility="private")
        shown_tab.then(None, query, None, js=UPDATE_URL_JS)


def _first_open(tab_id: str, example: common.Refresh) -> common.Refresh:
    """The tab's worked example, drawn once per model and visitor, only while the tab is the one shown (so
    opening the app costs nothing for tabs nobody looks at), and never over what a link or the visitor drew
    (the example itself checks that)."""

    def first_open(state: VisitorState, request: gr.Request) -> tuple:
        unchanged = tuple(gr.update() for _ in example.outputs)
        if state.tab != tab_id or not state.model or tab_id in state.examples_shown:
            return unchanged
        try:
            # a share of heavy work per visitor (fairness.EXAMPLE_WORK): on an uploaded model an example is
            # seconds of CPU, and a visitor could upload many
            with fairness.EXAMPLE_WORK.turn(fairness.visitor_of(request), "worked example"):
                drawn = example.fn(state)
        except fairness.Refused:
            return unchanged  # over the visitor's share: the next showing of the tab tries again
        state.examples_shown.add(tab_id)
        return drawn

    first_open.__name__ = f"example_{tab_id}"
    return common.Refresh(first_open, example.inputs, example.outputs)


def _walk_preview_endpoint(catalog: Catalog):
    """GET walk-preview.png?<the page's query string>&move=dim:3:1.25 -> the walk image (see walk.PREVIEW_PATH).

    A plain route outside Gradio's queue, so it is bounded here: a token bucket per client address (the
    page asks once per slider release) and one render at a time server-wide. Refusals are answered on
    the event loop, before any rendering; the page then falls back to the slider's own Gradio event, so
    a flood only ever loses the fast path, and cannot take the CPU from the app's own requests."""
    per_client = fairness.RateLimiter(fairness.PREVIEW_BURST, fairness.PREVIEW_PER_SECOND)
    rendering = threading.Lock()  # one preview at a time: ~10 ms each, so at most one core, usually far less

    def refusal(status: int, message: str, retry_after: float) -> Response:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        return PlainTextResponse(message, status_code=status, headers=headers)

    async def endpoint(request: Request) -> Response:  # async: a refusal never waits for a thread
        peer = request.client.host if request.client else None
        wait = per_client.wait_time(fairness.client_address(peer, request.headers.get("x-forwarded-for")))
        if wait > 0:
            await asyncio.sleep(fairness.PREVIEW_TARPIT)  # a client looping as fast as it can loops slower
            return refusal(429, "too many previews from your address; slow down", wait)
        if not rendering.acquire(blocking=False):
            return refusal(503, "another preview is being drawn; the slider's own event draws yours", 1.0)
        try:
            png, query = await run_in_threadpool(walk.preview_png, catalog, dict(request.query_params))
        except walk.ModelNotReady as error:
            return refusal(503, f"{common.public_message(error)}; the slider's own event draws it", 1.0)
        except (DcganError, ValueError) as error:
            return PlainTextResponse(common.public_message(error), status_code=400)
        finally:
            rendering.release()
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store", "X-Query": query})

    return endpoint


def _tab_selector(tab_ids: list[str], timer_owners: list[str]):
    """On page load: show the URL's tab (the first one when it names none we have), and its timer only."""

    def _select_tab(state: VisitorState) -> tuple:  # its name is the (private) endpoint's name
        tab = state.tab if state.tab in tab_ids else tab_ids[0]
        return gr.Tabs(selected=tab), *(gr.Timer(active=tab == owner) for owner in timer_owners)

    return _select_tab


# Gradio selects the first tab by itself while a page starts, sometimes after the link's state has been
# applied: that select then showed the Latent walk and rewrote the address without the link's tab= (about 1
# link in 7, issue 25). A select is the visitor's only once the page has started (the start's last step
# marks <html data-ready>, session.READY_JS); the start itself shows the state's tab before that mark.
TAB_SELECT_ORIGIN_JS = (
    "(state, origin) => [state, document.documentElement.dataset.ready === '1' ? 'visitor' : 'start']"
)


def _remember_tab(tab_id: str, timer_owners: list[str]):
    def remember(state: VisitorState, origin: str) -> tuple:
        if origin != "visitor":  # Gradio's own select during the start: the state's tab stays, the URL too
            return state, "", *(gr.update() for _ in timer_owners)
        state.tab = tab_id
        timers = (gr.Timer(active=tab_id == owner) for owner in timer_owners)  # e.g. the Train tab's refresh
        # present= is left to the toggle: a tab click never turns presenter view on or off.
        query = [pair for pair in parse_qsl(query_string(state), keep_blank_values=True) if pair[0] != "present"]
        return state, urlencode(query, safe=":,"), *timers

    remember.__name__ = f"show_{tab_id}"
    return remember
