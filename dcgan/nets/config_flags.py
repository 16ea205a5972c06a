"""`python -m dcgan train`'s config flags, made from the fields' Knobs (dcgan/nets/config.py), and the
config values read back from the parsed flags. A flag's dest is its field's name (`--channels` -> nc,
`--no-amp` -> amp), so reading back needs no list of names."""

from __future__ import annotations

import argparse
from typing import Any

from dcgan.data.registry import names_help
from dcgan.nets.config import Knob, ModelConfig, TrainConfig, format_value, help_text, knob_of, knobs

GROUPS = ("data", "model", "training")  # --help sections, in this order
DEFAULT_GROUPS = {ModelConfig: "model", TrainConfig: "training"}


def flag_name(knob: Knob) -> str:
    return knob.flag or "--" + knob.name.replace("_", "-")


def flag_options(knob: Knob) -> dict[str, Any]:
    """add_argument's keyword arguments for one knob."""
    text = help_text(knob)
    if knob.name == "data":  # the registered names are known only at run time (dcgan/data/registry.py)
        text += f" (names: {names_help()})"
    if knob.type is bool and knob.default:  # a switch that is on: its flag turns it off (--no-amp)
        return dict(dest=knob.name, action="store_false", help=f"turn off {text}")
    if knob.type is bool:
        # None, not False: on --resume an absent flag keeps the run's own setting
        default = None if knob.resume_override else False
        return dict(dest=knob.name, action="store_true", default=default, help=text)
    if knob.from_data:
        text += " (default: the data's own)"
    elif knob.resume_override:  # None: on --resume an absent flag keeps the run's own value
        text += f" (default: {format_value(knob.default)}; on --resume: the run's own, or this from there on)"
    return dict(
        dest=knob.name,
        type=knob.type,
        choices=list(knob.choices) or None,
        default=None if knob.from_data or knob.resume_override else knob.default,
        help=text,
    )


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per exposed ModelConfig and TrainConfig field, in sections, plus --lr for both nets."""
    sections = {name: parser.add_argument_group(name) for name in GROUPS}
    exclusive: dict[str, Any] = {}
    for config_class, default_group in DEFAULT_GROUPS.items():
        for knob in knobs(config_class):
            section = sections[knob.group or default_group]
            if knob.exclusive:
                if knob.exclusive not in exclusive:
                    exclusive[knob.exclusive] = section.add_mutually_exclusive_group()
                section = exclusive[knob.exclusive]
            section.add_argument(flag_name(knob), **flag_options(knob))
    paper = format_value(knob_of(TrainConfig, "lr_g").paper)
    sections["training"].add_argument(
        "--lr",
        type=float,
        help=f"learning rate of both nets, instead of --lr-g and --lr-d (paper: {paper}); on --resume too",
    )


def config_values(config_class: type, args: argparse.Namespace) -> dict[str, Any]:
    """The field values the flags give: unset flags (None) are left out, so the dataclass or the
    family supplies the default."""
    values = {knob.name: getattr(args, knob.name, None) for knob in knobs(config_class)}
    if config_class is TrainConfig and getattr(args, "lr", None):
        values.update(lr_g=args.lr, lr_d=args.lr)
    return {name: value for name, value in values.items() if value is not None}


def resume_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given with --resume that change how the run goes on (`resume_override` knobs)."""
    values = config_values(TrainConfig, args)
    return {knob.name: values[knob.name] for knob in knobs(TrainConfig) if knob.resume_override and knob.name in values}
