"""Presenter view: each figure tab as a class sees it on a 1280x720 projector, and the header's theme link.

The view is a class on <html> ("dcgan-present") that follows the URL's present=1 (VisitorState.present):
CSS hides the header, the picker and every control, keeps each tab's figure (KEEP) and its caption
(CAPTIONS), and makes the figure large. SCRIPT (in the page's <head>) sets the class before the first paint,
keeps it in step with every URL update, and gives the keyboard its job: Esc leaves the view, arrow keys
move the walk's slider or the interpolation's seeds and redraw.
"""

from __future__ import annotations

import json

import gradio as gr

from dcgan.ui.session import UPDATE_URL_JS, VisitorState, query_string

PRESENT_CLASS = "dcgan-present"

# What a class should notice, per tab id (dcgan/ui/tabs.py). Shown above the figure in presenter view only.
CAPTIONS = {
    "walk": (
        "**Paper Fig. 4 (walking in the latent space):** each step is a small move of z, and the picture "
        "changes smoothly, with no sudden jumps: the generator has not memorised pictures. "
        "<kbd>←</kbd> <kbd>→</kbd> move the first direction (or the slider you clicked)."
    ),
    "interpolation": (
        "**Paper Fig. 4 (interpolating between samples):** each row walks from one z to another, and every "
        "frame on the way is a plausible picture. lerp (left) cuts through the sphere where no training z "
        "lies, slerp (right) stays on it: watch the middle frames' contrast. "
        "<kbd>←</kbd> <kbd>→</kbd> seed B, with <kbd>Shift</kbd> seed A."
    ),
    "arithmetic": (
        "**Paper Fig. 7 (vector arithmetic):** A − B + C on the average z of a few exemplars draws the new "
        "concept more cleanly than on single exemplars; the 3×3 around the result shows that nearby z's "
        "draw it too. Columns A, B, C: exemplars, then their average; bottom: A − B + C on the averages, "
        "on single exemplars, the 3×3."
    ),
    "project": (
        "**Real images in z (beyond the paper):** the z whose picture is closest to a real image; "
        "what G cannot draw shows what it never learned."
    ),
    "inside": (
        "**Paper Fig. 5 (what D's features respond to):** one channel of the trained discriminator, its guided "
        "backprop (where more or less ink would make it fire) beside the same channel of an untrained D of the "
        "same shape: trained, it picks out parts and edges; untrained, it passes back a blur of the whole image. "
        "<kbd>6</kbd>: Fig. 6 on this tab."
    ),
    "inside-fig6": (
        '**Paper Fig. 6 ("forgetting to draw"):** the same noise before and after zeroing some of the '
        "generator's filters, so what changed is what those filters drew. "
        "<kbd>←</kbd> <kbd>→</kbd> another noise seed; <kbd>5</kbd>: Fig. 5 on this tab."
    ),
    "train": (
        "**Paper Fig. 2 and 3 (samples as training goes on):** the same fixed noise at every step, so what "
        "changes is only what G has learned: blobs first, then shapes, then details. The curves are the "
        "tug of war between D and G."
    ),
}

# The figure of each tab: the components (elem_ids) presenter view keeps; everything else in a tab is hidden.
KEEP = {
    "walk": ["walk-image", "walk-strip-caption", "walk-strip"],
    "interpolation": ["interp-caption", "interp-lerp", "interp-slerp", "interp-norms"],
    "arithmetic": [
        *(f"arith-{group}-{part}" for group in "ABC" for part in ("picks", "mean")),
        "arith-averaged",
        "arith-single",
        "arith-neighbourhood",
        "arith-caption",  # its last line: the judge's reading of the result (the figure's number)
        "arith-class-strip",  # the class vector (person → smiley on emoji): a row under the results, once drawn
        "arith-class-caption",
    ],
    "project": ["project-original", "project-reconstruction"],
    "inside": ["inside-image", "inside-channel-title", "inside-channel", "inside-channel-guided"]
    + ["inside-channel-untrained", "ablate-caption", "ablate-before", "ablate-after", "ablate-difference"],
    "train": ["train-status", "train-grid", "train-curves"],
}

# Until a figure is drawn, presenter view shows the few controls that draw it (selectors), then hides them:
# a class can watch the exemplars being picked or the channel being clicked, and then sees only the figure.
UNTIL_DRAWN = {
    "arith-averaged": ["#arith-group", "#arith-gallery"],
    "inside-image": ["#inside-run"],
    "inside-channel-guided": ['[id^="inside-layer-"]'],
    "ablate-before": ["#ablate-run"],
    "train-grid": ["#train-start"],  # the default recipe on the default data: a run the class can watch
}

DRAWN = "img, canvas, .js-plotly-plot"  # what a drawn figure contains (an empty gr.Image holds an icon)
# Kept words (the contrast table, the run's status, the figures' numbers), not pictures.
TEXTS = {"interp-caption", "train-status", "inside-channel-title", "ablate-caption", "walk-strip-caption"}
TEXTS |= {"arith-class-caption", "arith-caption"}

# The Inside tab holds two of the paper's figures; presenter view shows one of them at a time, chosen by the
# link: fig=5 or fig=6, else Fig. 6 for a link that forgets a class or zeroes filters and names no channel
# (SCRIPT sets <html data-fig>). The keys 5 and 6 switch.
FIGURE_SCREENS = {  # CSS selectors of each figure's parts
    "5": ["#inside-image", "#inside-channel-title", "#inside-channel", "#inside-channel-guided"]
    + ["#inside-channel-untrained", "#inside-run", '[id^="inside-layer-"]', "#presenter-caption-inside"],
    "6": ["#ablate-caption", "#ablate-before", "#ablate-after", "#ablate-difference", "#ablate-run"]
    + ["#presenter-caption-inside-fig6"],
}

# Short labels on the pictures' top edge in presenter view, readable from the back of a room (Gradio's own
# labels are long, and hidden there).
LABELS = {
    "inside-image": "what D sees",
    "inside-channel": "the channel's activation",
    "inside-channel-guided": "trained D",
    "inside-channel-untrained": "untrained D",
    "ablate-before": "before",
    "ablate-after": "after (filters zeroed)",
    "ablate-difference": "difference (brighter: more)",
    "interp-lerp": "lerp",
    "interp-slerp": "slerp",
    **{f"arith-{group}-picks": group for group in "ABC"},
    **{f"arith-{group}-mean": f"mean of {group}" for group in "ABC"},
    "arith-averaged": "A − B + C on the averages",
    "arith-single": "on single exemplars",
    "arith-neighbourhood": "around the result",
    "arith-class-strip": "a seed + t × (mean z of one class − mean z of another)",
}


# The page's presenter-view rules; _css() fills in the selectors it derives from KEEP, UNTIL_DRAWN, TEXTS,
# FIGURE_SCREENS and LABELS (str.format: "{{" and "}}" are CSS's own braces).
_CSS_TEMPLATE = """
/* the header: one line (title, intro, theme link, presenter toggle) */
#app-header {{ align-items: center; gap: 8px; }}
#app-intro p {{ margin: 0; }}
#app-intro {{ flex-grow: 1; }}
#app-intro strong:first-child {{ font-size: 1.35em; margin-right: 0.3em; }}
#theme-link, #presenter-toggle {{ flex: 0 0 auto !important; width: auto !important; }}
#model-facts {{ flex: 3 1 0 !important; }}
#theme-link a {{ white-space: nowrap; font-size: var(--text-sm); }}
body.dark #theme-link .to-dark, body:not(.dark) #theme-link .to-light {{ display: none; }}
#presenter-toggle {{ white-space: nowrap; }}
#picker-row {{ align-items: center; }}
#model-facts {{ font-size: var(--text-sm); line-height: 1.3; }}
/* (Gradio also adds every rule again under ".gradio-container .contain", which outranks a plain
   ".presenter-caption" rule: the captions' rule names the page root, which that copy cannot) */
html:not(.{PRESENT_CLASS}) .presenter-caption {{ display: none !important; }}

/* presenter view: the figure, its caption, the tab bar; no header, picker, controls or labels */
{on} #app-intro, {on} #picker-row, {on} #picker-more, {on} #model-card-box, {on} #no-model, {on} footer {{
    display: none !important; }}
{on} #app-header {{ position: fixed; top: 4px; right: 12px; left: auto; z-index: 100; width: max-content; }}
{on} #app-header > * {{ min-width: max-content !important; }}
{on} #presenter-toggle {{ font-size: 0; }}
{on} #presenter-toggle::after {{ content: "✕ leave presenter view (Esc)"; font-size: var(--text-sm); }}
{on} .gradio-container {{ padding-top: 0 !important; }}
{on} main.contain {{ padding-top: 4px !important; }}
{on} .presenter-caption {{ display: block !important; font-size: 1.1em; padding: 0 4px; }}
{on} .presenter-caption p {{ margin: 0; }}
{on} .tabitem .block:not({kept}) {{ display: none !important; }}
{on} .tabitem .form:not(:has({kept})) {{ display: none !important; }}
{on} .tabitem :is(button.primary, button.secondary, button.stop):not({kept}) {{ display: none !important; }}
{on} .tabitem .row:not(:has({kept})), {on} .tabitem .column:not(:has({kept})) {{ display: none !important; }}
{on} .tabitem :is({figures}):not(:has({DRAWN})) {{ display: none !important; }}
{drawn}
{on} .tabitem [data-testid="block-label"], {on} .tabitem .icon-button-wrapper {{ display: none !important; }}
{on} .tabitem .block {{ border: none !important; box-shadow: none !important; background: transparent !important; }}
{on} .tabitem img {{ object-fit: contain; }}
/* sizes for a 1280x720 projector (and larger): the main picture takes what the rest leaves */
{on} #walk-image {{ height: calc(100vh - 285px) !important; }}
{on} #walk-strip-caption {{ text-align: center; font-size: 1.15em; }}
{on} #walk-strip-caption p {{ margin: 0; }}
{on} #walk-strip img {{ width: 100%; height: auto; max-height: 90px; object-fit: contain; }}
{on} #interp-lerp img, {on} #interp-slerp img {{ max-height: calc(100vh - 520px); }}
/* the number (the middle frames' contrast), not the table of every frame: the norm plot shows the why */
{on} #interp-caption table {{ display: none; }}
{on} #interp-caption :is(p, strong) {{ font-size: 1.2rem !important; }}
{on} #interp-norms {{ max-width: 900px; margin: 0 auto; }}
/* pictures sized by their width here (height: auto), so the page's fixed-height stacking (CSS in __init__.py)
   must not share out a height of 0 */
{on} :is({auto_height}) {{ height: auto !important; }}
{on} :is({auto_height}) > .image-container {{ flex: 0 0 auto !important; }}
{on} :is({results}) img {{ width: 100%; height: auto;
    max-height: calc({third} - 2em); object-fit: contain; }}
/* the caption's last paragraph only: the judge's reading of the result, in large type */
{on} #arith-caption p:not(:last-child) {{ display: none; }}
{on} #arith-caption p:last-child {{ font-size: 1.1rem; margin: 0; }}
/* the class vector's strip: a fourth row under the results (its column, left in the page, goes below them),
   the three rows of pictures above shrink to leave it room */
{on} .tabitem .block.gr-accordion:has(#arith-class-strip img) {{ display: block !important; }}
{on} .gr-accordion:has(#arith-class-strip) > :is(button, .label-wrap) {{ display: none !important; }}
{on} .row:has(> .column #arith-class-strip) {{ flex-wrap: wrap; }}
{on} .column:has(#arith-class-strip) {{ order: 2; flex: 1 1 100% !important; min-width: 100% !important; }}
{on} #arith-class-strip {{ height: auto !important; }}
{on} #arith-class-strip > .image-container {{ flex: 0 0 auto !important; }}
{on} #arith-class-strip img {{ width: 100%; height: auto; max-height: 70px; object-fit: contain; }}
{on} #arith-class-caption :is(p, strong) {{ font-size: var(--text-sm); margin: 0; text-align: center; }}
{on} .tabitem:has(#arith-class-strip img) :is({results}) img {{ max-height: calc({third} - 2em - 50px); }}
/* the Inside tab: one figure per screen (FIGURE_SCREENS), its number in large type */
{screens}
{on} :is(#inside-channel-title, #ablate-caption) :is(.prose, p, strong, em) {{ font-size: 1.35rem !important;
    line-height: 1.4 !important; }}
{on} :is(#inside-image, #inside-channel, #inside-channel-guided, #inside-channel-untrained) {{
    height: calc((100vh - 250px) / 2) !important; }}
{on} .row:has(> .column #ablate-caption) {{ flex-wrap: wrap; }}  /* the number above the pictures, full width */
{on} .column:has(#ablate-caption) {{ flex: 1 1 100% !important; min-width: 100% !important; }}
{on} :is(#ablate-before, #ablate-after, #ablate-difference) img {{ width: 100%; height: auto;
    max-height: calc(100vh - 400px); }}
/* short labels on the pictures' top edge (LABELS), above the pixels, never over them */
{labels}
{labelled} {{ display: block; text-align: center; font-weight: 600; font-size: 1.15em; line-height: 1.5em; }}
/* Train: the run's status across the top, then the grid and the curves side by side on one screen */
{on} .column:has(> #train-grid) {{ display: grid !important; grid-template-columns: minmax(0, 1fr) minmax(0, 1.3fr);
    align-items: center; gap: 12px; }}
{on} .column:has(> #train-grid) > #train-status {{ grid-column: 1 / -1; }}
{on} #train-grid {{ height: calc(100vh - 240px) !important; }}
"""


def _css() -> str:
    """_CSS_TEMPLATE with the selectors derived from what each tab keeps, shows until drawn and labels."""
    controls = [selector for selectors in UNTIL_DRAWN.values() for selector in selectors]
    kept = ", ".join([f"#{elem_id}" for ids in KEEP.values() for elem_id in ids] + controls + [".presenter-caption"])
    figures = ", ".join(f"#{elem_id}" for ids in KEEP.values() for elem_id in ids if elem_id not in TEXTS)
    on = f"html.{PRESENT_CLASS}"
    drawn = []
    for figure, selectors in UNTIL_DRAWN.items():
        # Once drawn: its controls go, and so do the rows and columns that only held them.
        others = [other for key, group in UNTIL_DRAWN.items() if key != figure for other in group]
        when = f"{on} .tabitem:has(#{figure} :is({DRAWN}))"
        drawn.append(f"{when} :is({', '.join(selectors)}) {{ display: none !important; }}")
        holders = ", ".join([figures, *(f"#{text}" for text in TEXTS), *others, ".presenter-caption"])
        drawn.append(f"{when} :is(.row, .column):not(:has({holders})) {{ display: none !important; }}")
    drawn = "\n".join(drawn)
    screens = []
    for figure in FIGURE_SCREENS:
        others = [other for key, group in FIGURE_SCREENS.items() if key != figure for other in group]
        screens.append(f'{on}[data-fig="{figure}"] :is({", ".join(others)}) {{ display: none !important; }}')
    screens = "\n".join(screens)
    labels = "\n".join(  # ensure_ascii=False: CSS reads "\u2212" as "u2212", not as the minus sign
        f"{on} #{key}::before {{ content: {json.dumps(text, ensure_ascii=False)}; }}" for key, text in LABELS.items()
    )
    labelled = ", ".join(f"{on} #{elem_id}::before" for elem_id in LABELS)
    third = "calc((100vh - 240px) / 3)"  # three rows of pictures under the captions
    arithmetic = [elem_id for elem_id in KEEP["arithmetic"] if elem_id.startswith(("arith-A", "arith-B", "arith-C"))]
    arithmetic += ["arith-averaged", "arith-single", "arith-neighbourhood"]
    sized_by_width = [*arithmetic, "ablate-before", "ablate-after", "ablate-difference"]
    auto_height = ", ".join(f"#{elem_id}" for elem_id in sized_by_width)
    results = ", ".join(f"#{elem_id}" for elem_id in arithmetic)
    return _CSS_TEMPLATE.format(
        DRAWN=DRAWN,
        PRESENT_CLASS=PRESENT_CLASS,
        auto_height=auto_height,
        drawn=drawn,
        figures=figures,
        kept=kept,
        labelled=labelled,
        labels=labels,
        on=on,
        results=results,
        screens=screens,
        third=third,
    )


CSS = _css()

# In the page's <head>. Runs before Gradio renders: the class is right from the first paint.
SCRIPT = """<script>
(() => {
    const CLASS = 'CLASS_NAME';
    const presenting = () => new URLSearchParams(window.location.search).get('present') === '1';
    // Which of the Inside tab's figures presenter view shows (FIGURE_SCREENS): fig=, else what the link sets.
    const figure = () => {
        const params = new URLSearchParams(window.location.search);
        if (['5', '6'].includes(params.get('fig'))) return params.get('fig');
        return !params.has('ch') && (params.has('forget') || params.has('zero')) ? '6' : '5';
    };
    const sync = () => {
        document.documentElement.classList.toggle(CLASS, presenting());
        document.documentElement.dataset.fig = figure();
    };
    sync();
    // Every URL update (tabs, sliders, the toggle) goes through replaceState: the view follows the URL.
    const replaceState = history.replaceState.bind(history);
    history.replaceState = (...args) => { replaceState(...args); sync(); };

    const visible = (selector) => document.querySelector(selector)?.offsetParent != null;
    // Gradio's slider sends its release event on pointerup (and the walk's fast path listens for it).
    const release = (input) => input.dispatchEvent(new PointerEvent('pointerup', {bubbles: true, composed: true}));
    const nudge = (input, direction) => {  // one presenter step: a 16th of the slider's range, then redraw
        const [min, max, step] = [+input.min, +input.max, +input.step || 0.01];
        const by = Math.max(step, Math.round((max - min) / 16 / step) * step);
        input.value = String(Math.min(max, Math.max(min, +input.value + direction * by)));
        input.dispatchEvent(new Event('input', { bubbles: true }));
        release(input);
    };
    const bumpSeed = (selector, direction, button) => {  // a seed box +-1, then its tab's draw button
        const input = document.querySelector(selector + ' input');
        const run = document.querySelector(button);
        if (!input || !run) return;
        input.value = String(Math.max(0, (+input.value || 0) + direction));
        input.dispatchEvent(new Event('input', { bubbles: true }));
        setTimeout(() => run.click(), 0);  // after Gradio has read the box
    };
    const typing = (el) => el && (el.isContentEditable || el.tagName === 'TEXTAREA' ||
        (el.tagName === 'INPUT' && el.type !== 'range' && el.type !== 'checkbox' && el.type !== 'radio'));
    const ARROWS = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1 };
    const KEYS = ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'PageUp', 'PageDown', 'Home', 'End'];

    let before = null;  // a focused slider's value when its key went down
    document.addEventListener('keydown', (event) => {
        const target = event.target;
        if (presenting() && !typing(target) && !event.altKey && !event.ctrlKey && !event.metaKey) {
            if (event.key === 'Escape') {
                document.querySelector('#presenter-toggle')?.click();
                return;
            }
            const onInside = [...document.querySelectorAll('[id^="presenter-caption-inside"]')]
                .some((caption) => caption.offsetParent != null);
            if (['5', '6'].includes(event.key) && onInside) {
                const url = new URL(window.location.href);  // the other figure of the Inside tab, in the address
                url.searchParams.set('fig', event.key);
                history.replaceState(null, '', url);
                return;
            }
            const direction = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
            if (direction && visible('#walk-image')) {
                const focused = target.type === 'range' && target.closest('[id^="walk-"]');
                nudge(focused ? target : document.querySelector('#walk-direction-0 input[type=range]'), direction);
                event.preventDefault();
                return;
            }
            if (direction && visible('#interp-lerp')) {
                bumpSeed(event.shiftKey ? '#interp-seed-a' : '#interp-seed-b', direction, '#interp-run');
                event.preventDefault();
                return;
            }
            if (direction && visible('#ablate-before')) {
                bumpSeed('#ablate-seed', direction, '#ablate-run');
                event.preventDefault();
                return;
            }
        }
        if (target.type === 'range' && KEYS.includes(event.key) && before === null) before = target.value;
    }, true);
    // A slider moved by its keys redraws like a dragged one: Gradio only listens for the pointer.
    document.addEventListener('keyup', (event) => {
        const target = event.target;
        if (target.type !== 'range' || !KEYS.includes(event.key)) return;
        const changed = before !== null && target.value !== before;
        before = null;
        if (changed) release(target);
    }, true);

    document.addEventListener('click', (event) => {  // the header's theme link keeps the page's query
        const link = event.target.closest && event.target.closest('#theme-link a');
        if (!link) return;
        event.preventDefault();
        const url = new URL(window.location.href);
        url.searchParams.set('__theme', document.body.classList.contains('dark') ? 'light' : 'dark');
        window.location.assign(url);
    });
})();
</script>""".replace("CLASS_NAME", PRESENT_CLASS)

THEME_LINK = (
    '<a href="?__theme=dark" title="reload the page in the other colour theme (adds __theme= to the address)">'
    '<span class="to-dark">◐ dark theme</span><span class="to-light">◑ light theme</span></a>'
)


def caption(tab_id: str) -> None:
    """The tab's presenter caption(s) (hidden outside presenter view), inside the current gr.Tab: one per figure
    the tab holds ("inside" and "inside-fig6")."""
    for key in CAPTIONS:
        if key == tab_id or key.startswith(f"{tab_id}-fig"):
            gr.Markdown(CAPTIONS[key], elem_id=f"presenter-caption-{key}", elem_classes=["presenter-caption"])


def header_controls(state: gr.State, query: gr.Textbox) -> None:
    """The theme link and the presenter toggle, inside the current row (the header)."""
    gr.HTML(THEME_LINK, elem_id="theme-link", js_on_load=None, scale=0, min_width=110)
    toggle = gr.Button("▶ presenter view", elem_id="presenter-toggle", size="sm", scale=0, min_width=150)

    def toggle_present(state: VisitorState) -> tuple:
        state.present = not state.present
        return state, query_string(state)

    # The URL carries the view; SCRIPT turns the page's class on or off when the URL changes.
    toggle.click(toggle_present, state, [state, query], api_visibility="private", queue=False).then(
        None, query, None, js=UPDATE_URL_JS
    )
