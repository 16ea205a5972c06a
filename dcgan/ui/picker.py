"""The model picker at the top of the app: shipped models, runs, a Hub id, or an upload; and the facts."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import gradio as gr

from dcgan.errors import DcganError
from dcgan.explore.explorer import Explorer, default_seed
from dcgan.interop.convert import ACTIVATIONS, NOISES, ImportNeedsOptions, ImportOptions
from dcgan.nets.limits import DENSE_ACTIVATIONS
from dcgan.serve.model_uploads import import_upload
from dcgan.serve.uploads import check_upload_fits, owner_key, prune_uploads, record_owner
from dcgan.ui.common import UserError, as_text, public_message
from dcgan.ui.fairness import HEAVY_SLOTS, heavy_turn, visitor_of
from dcgan.ui.model_cache import Catalog, check_budget, get_model
from dcgan.ui.session import VisitorState, apply_query

NO_MODEL_HELP = """
### No model yet
DCGAN Explorer found no model in `{checkpoints}` or `{runs}`. Any of these fixes it:

* train one (about 10 minutes per epoch on 2 CPU cores), then press **↻ list** beside the model list:
  `python -m dcgan train --data fashion-mnist --image-size 32 --epochs 5 --out {runs}/fmnist`
* upload a model below: our folder format as a `.zip` (config.json + model.safetensors),
  or another project's generator `.pth`
* type a Hugging Face Hub id (`owner/name`) of a DCGAN Explorer model
* start the app with `python app.py --model PATH_OR_HUB_ID`
"""


def facts_markdown(model: Explorer) -> str:
    """The facts line. Its strings come from the model's config.json (a visitor's file, for an upload or a
    Hub model) and its name from a file name or a link: each is shown as text (common.as_text), or a
    train.data of "<form ...>" would put a live form in every viewer's page."""
    facts = model.facts
    parts = [
        f"**{as_text(model.name)}**",
        f"data: {as_text(facts['data'])}",
        f"image {as_text(facts['image'])}",
        f"nz {as_text(facts['nz'])} ({as_text(facts['noise'])})",
        as_text(facts["widths"]),
        f"{int(facts['generator_parameters']) / 1e6:.2f} M generator parameters",
    ]
    if "training_steps" in facts:
        parts.append(f"{int(facts['training_steps']):,} training steps")
    if facts.get("family") != "paper":
        parts.append(f"family: {as_text(facts['family'])}")
    return " · ".join(parts)


CARD_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"(`+).*?\1", re.DOTALL)


def card_markdown(card: str, trusted: bool, folder: str | Path | None = None) -> str:
    """The model card as Markdown. A stranger's card (an upload, a Hub model) is shown as plain text in a
    code block: no HTML, no forms, no images fetched from elsewhere (which could track the visitor). Our own
    cards' images (paths relative to `folder`) are served by the app, and "~2 h" is not strikethrough."""
    if not card:
        return "_this model has no card (README.md)_"
    if trusted:
        return _outside_code(card, lambda text: _served_images(_approximately(text), folder))
    longest_run = max((len(run) for run in re.findall(r"`+", card)), default=0)
    fence = "`" * max(3, longest_run + 1)  # longer than any backtick run inside: the card cannot close it
    return f"_the card that came with this model, shown as plain text:_\n\n{fence}text\n{card}\n{fence}"


def _outside_code(markdown: str, change: Callable[[str], str]) -> str:
    """`change` applied to the Markdown between code spans and blocks (``...``, ```...```), not inside them."""
    pieces, start = [], 0
    for code in CODE_SPAN.finditer(markdown):
        pieces += [change(markdown[start : code.start()]), code.group(0)]
        start = code.end()
    return "".join([*pieces, change(markdown[start:])])


def _approximately(text: str) -> str:
    """'~2 h' -> '≈2 h': Gradio's Markdown reads a pair of single tildes as strikethrough."""
    return re.sub(r"~(?=[\d.])", "≈", text)


def _served_images(text: str, folder: str | Path | None) -> str:
    """Relative image links (a card's samples, ../../assets/...) as Gradio file URLs, for the files the app
    serves (CARD_FILES, see serve_card_files); anything else becomes its alt text."""

    def served(match: re.Match) -> str:
        alt, target = match.groups()
        path = (Path(folder) / target).resolve() if folder is not None and "://" not in target else None
        if path is None or path not in CARD_FILES:
            return f"_{alt}_"
        return f"![{alt}](/gradio_api/file={quote(str(path))})"

    return CARD_IMAGE.sub(served, text)


# The image files our shipped cards show, resolved: the only files of the checkpoints and assets folders
# the app serves (serve_card_files).
CARD_FILES: set[Path] = set()
CARD_IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".webp")


def serve_card_files(checkpoints_dir: Path, *roots: Path) -> None:
    """Let the page load the images that the cards of the models in `checkpoints_dir` show (their sample
    grids and GIFs), when they lie in `checkpoints_dir` or under one of `roots` (the repository's assets).
    Gradio is told of each file, not of folders: a folder would serve every file in it, weights and configs
    too."""
    resolved_roots = [Path(root).resolve() for root in (checkpoints_dir, *roots)]
    files = set()
    for card in sorted(Path(checkpoints_dir).glob("*/README.md")):
        for _alt, target in CARD_IMAGE.findall(card.read_text(errors="replace")):
            path = (card.parent / target).resolve()
            inside = any(path.is_relative_to(root) for root in resolved_roots)
            if "://" not in target and path.suffix.lower() in CARD_IMAGE_SUFFIXES and inside and path.is_file():
                files.add(path)
    # Added to, as Gradio adds to its one process-wide list of static paths (a test may build several apps)
    CARD_FILES.update(files)
    gr.set_static_paths(sorted(files))


# ---- the picker: handlers, layout, events ------------------------------------------------------------------


def show_handler(catalog: Catalog) -> Callable[[VisitorState, str], tuple]:
    """Shows a model (its outputs: PickerParts.outputs); every way of picking one ends here."""

    def show(state: VisitorState, name: str) -> tuple:
        """Load `name` (and what the walk needs from it) for this visitor; everything a visitor can get
        wrong (no such folder, Hub offline, a bad file) comes back as a message, not a traceback."""
        try:
            model = get_model(catalog, name)
            model.sensitivity()
            model.directions()
        except DcganError as error:
            raise UserError(error) from None
        if state.model != name:
            state.reset_for_model(name)
        choices = catalog.choices(state.uploads)
        if name not in [value for _, value in choices]:
            choices.append((name, name))  # a Hub id, or someone's upload opened from their link
        trusted = catalog.source_of(name) in ("shipped", "local", "run")
        return (
            state,
            gr.update(choices=choices, value=name),
            facts_markdown(model),
            card_markdown(model.card, trusted, model.key if trusted else None),
            gr.update(visible=False),
        )

    return show


def pick_handlers(catalog: Catalog, show: Callable[[VisitorState, str], tuple]) -> tuple[Callable, ...]:
    """(on_pick, on_hub, on_upload): a model from the list, a Hub id, an uploaded file."""

    def on_pick(state: VisitorState, name: str | None) -> tuple:
        if not name:
            raise UserError("pick a model")
        return show(state, name)

    def on_hub(state: VisitorState, repo_id: str | None, request: gr.Request = None) -> tuple:
        if not (repo_id or "").strip():
            raise UserError("type a Hub repo id like 'owner/name'")
        with heavy_turn(request, "fetching and preparing a Hub model"):  # as an upload: see on_upload
            return show(state, repo_id.strip())

    def on_upload(
        state: VisitorState,
        path: str | None,
        layers: str | None = None,
        dense_activation: str = NOT_STATED,
        activation: str = "relu",
        noise: str = "normal",
        image_size: float = 0,
        request: gr.Request = None,
    ) -> tuple:
        if not path:
            raise UserError("no file arrived: try the upload again")
        # Preparing a visitor's model is heavy work (up to the host's --max-model-seconds): one at a time
        # per visitor, within their share, so that uploads in a loop cannot hold the upload slots.
        with heavy_turn(request, "preparing an uploaded model"):
            owner = owner_key(visitor_of(request).address)  # uploads.py: each address keeps its share
            return _upload(state, path, layers, dense_activation, activation, noise, image_size, owner)

    def _upload(state, path, layers, dense_activation, activation, noise, image_size, owner: str) -> tuple:
        try:
            check_upload_fits(Path(path).stat().st_size, catalog.limits)
            options = _import_options(layers, dense_activation, activation, noise, image_size)
            # The host's per-model budget, checked before the upload's networks are even built.
            accept = functools.partial(check_budget, limits=catalog.limits)
            folder = import_upload(path, catalog.uploads_dir, options, accept=accept)
            record_owner(folder, owner)
            prune_uploads(catalog.uploads_dir, catalog.limits)  # the newest goes last, and only if it can't fit
            name = catalog.label_for(folder)
        except ImportNeedsOptions as error:
            # The candidates are too long for a toast: they go where the card goes, whole and copyable.
            gr.Warning("this .pth needs import options: see below the upload")
            return state, gr.update(), gr.update(), needs_options_markdown(error), gr.update()
        except DcganError as error:
            raise UserError(error) from None
        state.add_upload(name)
        return show(state, name)

    return on_pick, on_hub, on_upload


def load_handler(catalog: Catalog, show: Callable[[VisitorState, str], tuple], default: str | None) -> Callable:
    """The page load's first step (build_app runs it, then every tab's redraw)."""

    def on_load(state: VisitorState, request: gr.Request) -> tuple:
        """A page (re)load: restore what the URL holds (a shared link), else show the default model."""
        params = dict(request.query_params) if request is not None else {}
        ignored = apply_query(state, params)
        if ignored:
            gr.Warning(f"ignored unreadable link parameters: {', '.join(ignored)}")
        if not state.model:
            return state, gr.update(), "", "", gr.update()
        try:
            shown = show(state, state.model)
            if "seed" not in params and "z" not in params:  # a fresh visit: the model's own default seed
                state.walk.seed = default_seed(get_model(catalog, state.model))[0]
            return shown
        except gr.Error as error:
            if state.model == default or default is None:
                raise
            gr.Warning(f"{error.message} Showing {default} instead.")
            state.reset_for_model(default)
            return show(state, default)

    return on_load


@dataclass
class PickerParts:
    """The picker's components, made by layout() in page order."""

    banner: gr.Markdown  # shown while there is no model
    choice: gr.Dropdown
    reload_list: gr.Button
    facts: gr.Markdown
    hub_id: gr.Textbox
    hub_button: gr.Button
    upload: gr.File
    options: list[gr.components.Component]  # a .pth's import options (_import_options_form)
    reimport: gr.Button
    card: gr.Markdown


def build(catalog: Catalog, state: gr.State, default: str | None) -> tuple[list, list, gr.Markdown]:
    """Returns (the events after which the model may have changed, their outputs, the no-model banner)."""
    parts = layout(catalog, default)
    events, on_load, outputs = wire(parts, catalog, state, default)
    return events, (on_load, outputs), parts.banner


def layout(catalog: Catalog, default: str | None) -> PickerParts:
    """The banner, the picker's row and the model's card, in the current Blocks."""
    banner = gr.Markdown(
        NO_MODEL_HELP.format(checkpoints=catalog.checkpoints_dir, runs=catalog.runs_dir),
        visible=default is None,
        elem_id="no-model",
    )
    # One row (model, list, facts, the rest folded): at 1280x720 the pictures get the height.
    with gr.Row(equal_height=True, elem_id="picker-row"):
        choice = gr.Dropdown(
            catalog.choices(),
            value=default,
            label="model",
            allow_custom_value=True,
            container=False,
            scale=1,
            min_width=180,
            elem_id="model-choice",
        )
        reload_list = gr.Button("↻ list", scale=0, min_width=60, size="sm")
        # No LaTeX: "$$...$$" in a model's data string would be typeset, not shown as the text it is.
        facts = gr.Markdown(elem_id="model-facts", container=False, scale=3, latex_delimiters=[])
        with gr.Column(scale=1, min_width=260, elem_id="picker-more"):
            with gr.Accordion("other models (Hub, upload)", open=default is None):
                hub_id = gr.Textbox(label="a Hugging Face Hub id", placeholder="owner/name")
                hub_button = gr.Button("load from the Hub")
                upload = gr.File(
                    label="or upload a model: a .zip of a model folder, or another project's generator .pth",
                    file_types=[".zip", ".pth", ".pt"],
                    height=110,
                    elem_id="model-upload",
                )
                with gr.Accordion("import options for a .pth (what its weights cannot say)", open=False):
                    options = _import_options_form()
                    reimport = gr.Button("import the uploaded .pth again with these options", size="sm")
    # The card's tables and pictures need the page's width (in the picker's column its settings table wrapped
    # letter by letter, 14,000 px tall): its own fold under the picker.
    with gr.Accordion("the model's card", open=False, elem_id="model-card-box"):
        card = gr.Markdown(elem_id="model-card")
    return PickerParts(banner, choice, reload_list, facts, hub_id, hub_button, upload, options, reimport, card)


def wire(parts: PickerParts, catalog: Catalog, state: gr.State, default: str | None) -> tuple[list, Callable, list]:
    """The picker's events, in the order the app has always registered them (Gradio numbers them so); returns
    them (the model may have changed after each), the page load's handler, and their outputs."""
    show = show_handler(catalog)
    on_pick, on_hub, on_upload = pick_handlers(catalog, show)
    outputs = [state, parts.choice, parts.facts, parts.card, parts.banner]
    hub_inputs, upload_inputs = [state, parts.hub_id], [state, parts.upload, *parts.options]
    events = [
        parts.choice.input(on_pick, [state, parts.choice], outputs, api_name="pick_model"),
        parts.hub_button.click(on_hub, hub_inputs, outputs, api_name="load_hub_model", concurrency_limit=HEAVY_SLOTS),
        parts.hub_id.submit(on_hub, hub_inputs, outputs, api_visibility="private", concurrency_limit=HEAVY_SLOTS),
        # Two slots: one visitor's model being prepared never makes another's upload wait (see fairness.py).
        parts.upload.upload(on_upload, upload_inputs, outputs, api_name="upload_model", concurrency_limit=HEAVY_SLOTS),
        parts.reimport.click(
            on_upload, upload_inputs, outputs, api_visibility="private", concurrency_limit=HEAVY_SLOTS
        ),
    ]
    parts.reload_list.click(
        lambda state: gr.update(choices=catalog.choices(state.uploads)), state, parts.choice, api_visibility="private"
    )
    return events, load_handler(catalog, show, default), outputs


def needs_options_markdown(error: ImportNeedsOptions) -> str:
    """The refusal as prose, with its candidate lines ("  --layers ...") in code blocks to copy from."""
    parts = [
        "**This .pth needs import options.** Open *import options* above, fill them in as below, then press "
        "*import the uploaded .pth again*."
    ]
    lines = [line for line in public_message(error).splitlines() if line.strip()]
    for indented, group in itertools.groupby(lines, key=lambda line: line.startswith("  ")):
        text = [line.strip() for line in group]
        parts.append("```text\n" + "\n".join(text) + "\n```" if indented else "\n\n".join(text))
    return "\n\n".join(parts)


NOT_STATED = "(no dense layer)"  # the dense-activation choice when none is stated


def _import_options_form() -> list[gr.components.Component]:
    """What a .pth's weights cannot say (python -m dcgan import's flags); an import that needs one says so."""
    with gr.Group(elem_id="import-options"):
        layers = gr.Textbox(
            label="--layers (kernel, stride, padding per layer)",
            placeholder="k4s1p0,k4s2p1,k4s2p1 (default: the standard layout, when exactly one fits)",
        )
        with gr.Row():
            dense_activation = gr.Dropdown(
                [NOT_STATED, *DENSE_ACTIVATIONS],
                value=NOT_STATED,
                label="dense activation",
                min_width=80,
            )
            activation = gr.Dropdown(list(ACTIVATIONS), value="relu", label="activation", min_width=80)
            noise = gr.Dropdown(list(NOISES), value="normal", label="noise", min_width=80)
            image_size = gr.Number(label="image size (0: auto)", value=0, precision=0, minimum=0, min_width=80)
    return [layers, dense_activation, activation, noise, image_size]


def _import_options(
    layers: str | None = "",
    dense_activation: str | None = NOT_STATED,
    activation: str | None = "relu",
    noise: str | None = "normal",
    image_size: float | None = None,
) -> ImportOptions:
    # Empty widgets mean "not stated"; ImportOptions.check (in the import) refuses what is not a choice.
    size = int(image_size) if image_size else None
    dense = None if dense_activation in (None, "", NOT_STATED) else dense_activation
    return ImportOptions((layers or "").strip() or None, dense, activation or "relu", noise or "normal", size)


def uploads_default() -> Path:
    from dcgan.data.dataset import cache_dir

    return cache_dir() / "uploads"
