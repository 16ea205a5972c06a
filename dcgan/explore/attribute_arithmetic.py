"""The paper's Figure 7 on faces, measured: how often A − B + C on averaged exemplars has the attributes the sum
asks for, read by the judge, against plain C (does the arithmetic add them, or were they there already?).

The paper showed two sums as pictures: "man with glasses − man without glasses + woman without glasses =
woman with glasses" and "smiling woman − neutral woman + neutral man = smiling man". `measure_sum` draws many
random exemplar triples from a pool of generated samples the judge reads confidently, for averages of 1, 3
and 5 exemplars, and reports the share of results the judge reads as the sum's answer (every attribute it
names), beside the same share for the average of C alone and for the average of A (the answer's other half).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dcgan.errors import DcganError
from dcgan.explore.attributes import read_attributes
from dcgan.nets.latent import generate, sample_noise
from dcgan.quality.classifier import JudgeClassifier

SURE = 0.8  # an exemplar counts when the judge reads each attribute the group names at >= SURE (or <= 1 - SURE)


@dataclass(frozen=True)
class AttributeSum:
    """A − B + C = answer, each a set of attribute values ({"female": False, "glasses": True}: a man with glasses)."""

    name: str
    a: dict[str, bool]
    b: dict[str, bool]
    c: dict[str, bool]
    answer: dict[str, bool]
    text: str  # the sum in words


PAPER_SUMS = (
    AttributeSum(
        "glasses",
        a={"female": False, "glasses": True},
        b={"female": False, "glasses": False},
        c={"female": True, "glasses": False},
        answer={"female": True, "glasses": True},
        text="man with glasses − man without glasses + woman without glasses = woman with glasses",
    ),
    AttributeSum(
        "smile",
        a={"female": True, "smiling": True},
        b={"female": True, "smiling": False},
        c={"female": False, "smiling": False},
        answer={"female": False, "smiling": True},
        text="smiling woman − neutral woman + neutral man = smiling man",
    ),
)


def matches(read: torch.Tensor, names: list[str], wanted: dict[str, bool], sure: float = 0.5) -> torch.Tensor:
    """(N,) bool: the judge's readings (N, attributes) have every wanted value, at `sure` confidence."""
    ok = torch.ones(len(read), dtype=torch.bool)
    for name, value in wanted.items():
        column = read[:, names.index(name)]
        ok &= column >= sure if value else column <= 1 - sure
    return ok


def exemplar_groups(
    generator: torch.nn.Module, judge: JudgeClassifier, paper_sum: AttributeSum, pool: int, distribution: str, seed: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(pool, nz) seeded z and, for "a", "b", "c", the indices of the samples the judge surely reads as that group."""
    z = sample_noise(pool, generator.config.nz, distribution, seed=seed)
    read = read_attributes(generator, judge, z)
    names = list(judge.config.attributes)
    return z, {g: torch.nonzero(matches(read, names, getattr(paper_sum, g), SURE))[:, 0] for g in "abc"}


@dataclass(frozen=True)
class SumRate:
    """One row of the table: averages of `size` exemplars, over `triples` random triples."""

    size: int
    triples: int
    result: float  # share of A − B + C the judge reads as the answer
    plain_c: float  # share of the mean of C alone read as the answer (the baseline)
    plain_a: float  # share of the mean of A alone read as the answer


@torch.inference_mode()
def measure_sum(
    generator: torch.nn.Module,
    judge: JudgeClassifier,
    paper_sum: AttributeSum,
    sizes: tuple[int, ...] = (1, 3, 5),
    triples: int = 200,
    pool: int = 4000,
    distribution: str = "normal",
    seed: int = 0,
) -> tuple[list[SumRate], dict[str, int]]:
    """The rates for each averaging size, and how many exemplars the pool held per group (seeded: the same
    arguments give the same numbers)."""
    names = list(judge.config.attributes)
    z, groups = exemplar_groups(generator, judge, paper_sum, pool, distribution, seed)
    counts = {g.upper(): len(members) for g, members in groups.items()}
    rng = np.random.default_rng(seed)
    rates = []
    for size in sizes:
        if min(counts.values()) < size:
            continue
        means = {g: [] for g in "abc"}
        for _ in range(triples):
            for g, members in groups.items():
                chosen = rng.choice(len(members), size=size, replace=False)
                means[g].append(z[members[chosen]].mean(0))
        a, b, c = (torch.stack(means[g]) for g in "abc")
        shares = [
            float(matches(read_attributes(generator, judge, latent), names, paper_sum.answer).float().mean())
            for latent in (a - b + c, c, a)
        ]
        rates.append(SumRate(size, triples, *shares))
    return rates, counts


def rates_markdown(paper_sum: AttributeSum, rates: list[SumRate], counts: dict[str, int]) -> str:
    """The measurement as a markdown table."""
    answer = paper_sum.text.split(" = ")[-1]
    lines = [
        f"**{paper_sum.text}** (exemplars the judge reads at >= {SURE:.0%}: A {counts['A']}, B {counts['B']}, "
        f"C {counts['C']})",
        "",
        f"| exemplars averaged | triples | A − B + C read as {answer} | C alone | A alone |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.size} | {r.triples} | **{r.result:.0%}** | {r.plain_c:.0%} | {r.plain_a:.0%} |" for r in rates]
    if not rates:
        lines.append("| (too few exemplars of a group for any size) | | | | |")
    return "\n".join(lines)


@torch.inference_mode()
def example_results(
    generator: torch.nn.Module,
    judge: JudgeClassifier,
    paper_sum: AttributeSum,
    size: int = 3,
    count: int = 8,
    pool: int = 4000,
    distribution: str = "normal",
    seed: int = 0,
) -> torch.Tensor:
    """(4 * count, nc, S, S): `count` random triples' means of A, B, C and their A − B + C, one row each (the
    first triples `measure_sum` draws for `size`, when it is its first size)."""
    z, groups = exemplar_groups(generator, judge, paper_sum, pool, distribution, seed)
    scarce = [g.upper() for g, members in groups.items() if len(members) < size]
    if scarce:
        raise DcganError(
            f"too few samples of group {', '.join(scarce)} of {paper_sum.text!r} in {pool:,} (the model rarely "
            f"draws them, as the judge reads it)"
        )
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        means = [z[members[rng.choice(len(members), size=size, replace=False)]].mean(0) for members in groups.values()]
        rows += [*means, means[0] - means[1] + means[2]]
    return generate(generator, torch.stack(rows))
