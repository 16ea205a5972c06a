"""The app's tabs, registered in one ordered list: a new tab is its module plus one TabSpec line in TABS.

build_app (dcgan/ui/__init__.py) makes one gr.Tab per spec, in order, and wires what the spec's
build returns: its Refresh is redrawn after every model change (and on page load, from the URL),
its Timer ticks only while the tab is shown. The spec's id is the tab's `tab=` value in the URL
(dcgan/ui/session.py) and the gr.Tab's id; the first tab is the default and never written to the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from dcgan.ui import arithmetic, inside, interpolation, presenter, projection, training, walk
from dcgan.ui.common import Refresh
from dcgan.ui.model_cache import Catalog


@dataclass
class TabContext:
    """What a tab's build gets: the shared app pieces, and the tabs built before it (by id)."""

    catalog: Catalog
    state: gr.State  # the visitor's VisitorState
    query: gr.Textbox  # the shareable query string; a handler that changes the URL writes it
    tabs: gr.Tabs  # the tab bar: a handler may switch tabs by returning gr.Tabs(selected=...)
    views: dict[str, TabView] = field(default_factory=dict)


@dataclass
class TabView:
    """What a built tab hands back to the app."""

    refresh: Refresh | None = None  # how it redraws after a model change; None: nothing model-dependent
    timer: gr.Timer | None = None  # polls while the tab is shown, off otherwise (each tick costs the page)
    parts: dict[str, Any] = field(default_factory=dict)  # components later tabs use (see `needs`)
    # What the tab draws when first shown for a model, where nothing is drawn yet (a link's figures, a
    # visitor's own): a worked example, so no panel is empty. Run lazily, on the tab's first showing.
    example: Refresh | None = None


@dataclass(frozen=True)
class TabSpec:
    id: str  # the URL's tab= value and the gr.Tab id: never renamed, shared links hold it
    title: str
    build: Callable[[TabContext], TabView]  # called inside the tab's gr.Tab
    needs: tuple[str, ...] = ()  # ids of tabs it reads from TabContext.views (they must come earlier)


def _arithmetic(context: TabContext) -> TabView:
    refresh, example, group = arithmetic.build(context.catalog, context.state, context.query)
    return TabView(refresh, parts={"group": group}, example=example)  # the Real images tab adds to its groups


def _projection(context: TabContext) -> TabView:
    views = context.views
    refresh, example = projection.build(
        context.catalog,
        context.state,
        context.query,
        context.tabs,
        views["walk"].refresh,
        views["interpolation"].refresh,
        views["arithmetic"].refresh,
        views["arithmetic"].parts["group"],
    )
    return TabView(refresh, example=example)


def _inside(context: TabContext) -> TabView:
    refresh, example = inside.build(context.catalog, context.state, context.query)
    return TabView(refresh, example=example)


TABS: list[TabSpec] = [
    TabSpec("walk", "Latent walk", lambda c: TabView(walk.build(c.catalog, c.state, c.query))),
    TabSpec("interpolation", "Interpolation", lambda c: TabView(interpolation.build(c.catalog, c.state, c.query))),
    TabSpec("arithmetic", "Vector arithmetic", _arithmetic),
    TabSpec("project", "Real images", _projection, needs=("walk", "interpolation", "arithmetic")),
    TabSpec("inside", "Inside the networks", _inside),
    TabSpec("train", "Train", lambda c: TabView(timer=training.build(c.catalog, c.state))),
]


def build_tabs(specs: list[TabSpec], context: TabContext) -> dict[str, tuple[gr.Tab, TabView]]:
    """Every tab in order, inside the current gr.Tabs; returns {id: (its gr.Tab, its TabView)}."""
    built = {}
    for spec in specs:
        missing = [need for need in spec.needs if need not in context.views]
        if missing:
            raise ValueError(f"tab {spec.id!r} needs {missing}: register it after them")
        with gr.Tab(spec.title, id=spec.id) as tab:
            presenter.caption(spec.id)  # shown in presenter view only
            view = spec.build(context)
        context.views[spec.id] = view
        built[spec.id] = (tab, view)
    return built
