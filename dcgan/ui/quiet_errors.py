"""Gradio's own refusals of a request's values, as one log line and a message, never a traceback.

Before a handler runs, each input component checks what the request sent (`preprocess`): a slider's value
beyond its ends, a dropdown's value not among its choices, text where a number goes. Gradio raises a
gr.Error for the first two, printed with its full traceback (`traceback.print_exc()` in its queue and its
non-queued route, not a logger: a logging filter cannot quiet it), and wraps anything else in a
ComponentProcessingError (too few values, or a file path nobody uploaded: a ValueError) that the page
shows as a bare "Error", traceback printed too. A script sending such values filled the log (44 tracebacks
per run, one of 100 KB). `install(demo)` catches these where Gradio preprocesses a request's inputs and
raises a UserError instead: logged as one line, shown as its message. Our own components' refusals
(common.whole_number_box) are UserErrors already and pass through.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import gradio as gr
from gradio.exceptions import ComponentProcessingError

from dcgan.ui.common import UserError, shown_value

# Where Gradio's ComponentProcessingError names the input at fault ("... input component at index 1 ...").
_INPUT_INDEX = re.compile(r"input component at index (\d+)")


def install(demo: gr.Blocks) -> gr.Blocks:
    """Make `demo`'s input refusals quiet (see the module's docstring); calling it again changes nothing.
    On the instance, not the class: other Blocks in the process keep Gradio's behaviour."""
    if getattr(demo, "dcgan_quiet_errors", False):
        return demo
    preprocess_data = demo.preprocess_data  # Blocks.process_api calls it as self.preprocess_data

    @functools.wraps(preprocess_data)
    async def quiet_preprocess_data(block_fn: Any, inputs: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
        try:
            return await preprocess_data(block_fn, inputs, *args, **kwargs)
        except UserError:
            raise
        except gr.Error as error:  # a bound or a choice: Gradio's message says which (and it is short)
            raise UserError(error.message) from None
        except ComponentProcessingError as error:
            raise UserError(unreadable_input(block_fn, inputs, error)) from None
        except ValueError as error:  # too few values, a file path that was never uploaded, ...
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else "no reason given"
            raise UserError(f"this request's values do not fit the event: {first_line}") from None

    demo.preprocess_data = quiet_preprocess_data
    demo.dcgan_quiet_errors = True
    return demo


def unreadable_input(block_fn: Any, inputs: list[Any], error: Exception) -> str:
    """A message naming the input Gradio could not read and what was sent for it."""
    found = _INPUT_INDEX.search(str(error))
    index = int(found.group(1)) if found else -1
    if not 0 <= index < min(len(block_fn.inputs), len(inputs)):
        return "this request holds a value one of its inputs cannot take; send what the page's controls send"
    component = block_fn.inputs[index]
    name = getattr(component, "label", None) or component.get_block_name()
    return f"{name!r} cannot take {shown_value(inputs[index])}; send what the page's control sends"
