"""Named attribute directions in z (glasses, smile, beard, hat), found by a judge that reads attributes.

For each binary attribute the judge reads (dcgan.quality.classifier's `attribute_probabilities`), generated samples
are split into those the judge calls positive and negative, and the direction is the difference of the two
groups' mean z, as a unit vector. With z ~ N(0, I) this is the linear discriminant (the covariance of each
group stays close to the identity), the same direction a linear classifier in z finds (InterFaceGAN's
method for StyleGAN), without fitting one.

Directions of correlated attributes are not orthogonal: moving along "beard" may also turn a face male.
`keep_others` removes the other attributes' directions from one (projects them out), so that moving along
it changes the others' linear scores by nothing; `entanglement` measures what moving along each does to
every attribute, the judge's reading at -2 / 0 / +2, which is how a lecturer shows what entanglement is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcgan.nets.latent import batch_for, generate, sample_noise
from dcgan.quality.classifier import JudgeClassifier, attribute_probabilities

# What the sliders are called, where the judge's attribute names are not what a lecturer says
ATTRIBUTE_LABELS = {"female": "woman", "smiling": "smile", "facial_hair": "beard"}
MIN_GROUP = 20  # samples on each side of an attribute for its direction to count (fewer: too noisy)
ENTANGLEMENT_AMOUNTS = (-2.0, 0.0, 2.0)  # moves along a direction the table reports (units: z's spread)
ALIGNED = 0.9  # |cosine| from which two attributes' directions count as one (aligned_pairs)


def attribute_label(name: str) -> str:
    """The slider's name for a judge's attribute ("facial_hair" -> "beard")."""
    return ATTRIBUTE_LABELS.get(name, name)


@dataclass(frozen=True)
class AttributeDirections:
    """Unit directions in z for the attributes a judge reads in a model's samples."""

    names: list[str]  # the attributes with a direction, in the judge's order
    directions: torch.Tensor  # (len(names), nz) unit vectors: + is towards the attribute
    positive_share: dict[str, float]  # every attribute the judge reads -> share of samples it calls positive
    samples: int  # generated samples the directions were measured on

    def direction(self, name: str, keep_others: bool = False) -> torch.Tensor:
        """(nz,) the unit direction of `name`, with the other attributes' directions projected out when
        `keep_others` (KeyError for an attribute without a direction)."""
        k = self.names.index(name)
        return keep_others_out(self.directions, k) if keep_others else self.directions[k]


def read_attributes(generator: torch.nn.Module, judge: JudgeClassifier, z: torch.Tensor) -> torch.Tensor:
    """(N, attributes) the judge's probability of each attribute in G(z), one batch of images at a time."""
    parts = [attribute_probabilities(judge, generate(generator, part)) for part in z.split(batch_for(generator))]
    return torch.cat(parts)


@torch.inference_mode()
def find_attribute_directions(
    generator: torch.nn.Module, judge: JudgeClassifier, n: int = 2000, distribution: str = "normal", seed: int = 0
) -> AttributeDirections:
    """Each attribute's direction from `n` samples (seeded): mean z of the positives minus mean z of the
    negatives, normalised. An attribute with fewer than MIN_GROUP samples on either side gets none (a model
    that never draws hats has no hat direction to offer)."""
    z = sample_noise(n, generator.config.nz, distribution, seed=seed)
    positive = read_attributes(generator, judge, z) > 0.5
    names, directions, shares = [], [], {}
    for k, name in enumerate(judge.config.attributes):
        chosen = positive[:, k]
        shares[name] = float(chosen.float().mean())
        if int(chosen.sum()) < MIN_GROUP or int((~chosen).sum()) < MIN_GROUP:
            continue
        difference = z[chosen].mean(0) - z[~chosen].mean(0)
        names.append(name)
        directions.append(difference / difference.norm())
    stacked = torch.stack(directions) if directions else torch.zeros(0, generator.config.nz)
    return AttributeDirections(names, stacked, shares, n)


def keep_others_out(directions: torch.Tensor, k: int) -> torch.Tensor:
    """(nz,) direction k with its component in the span of the other directions removed, as a unit vector:
    moving along it leaves every other direction's coordinate of z unchanged."""
    own = directions[k]
    others = torch.cat([directions[:k], directions[k + 1 :]])
    if len(others) == 0:
        return own
    basis = torch.linalg.qr(others.T.double()).Q  # (nz, m) orthonormal basis of the others' span
    rest = own.double() - basis @ (basis.T @ own.double())
    return (rest / rest.norm()).float()


def aligned_pairs(found: AttributeDirections, threshold: float = ALIGNED) -> list[tuple[str, str, float]]:
    """(a, b, cosine) for each pair of directions closer than `threshold` to one line (|cosine|): attributes
    the model draws together (faces-64 draws a beard on nearly every man, so "beard" is "not woman"). With
    the others kept, neither of such a pair moves: what is left of one is the noise of its estimate."""
    cosines = found.directions @ found.directions.T
    pairs = []
    for i, a in enumerate(found.names):
        for j in range(i + 1, len(found.names)):
            if abs(float(cosines[i, j])) >= threshold:
                pairs.append((a, found.names[j], float(cosines[i, j])))
    return pairs


def aligned_text(found: AttributeDirections) -> str:
    """A sentence naming the aligned pairs, for the entanglement table's caption ("" when there are none)."""
    sentences = [
        f"In this model {attribute_label(a)} and {attribute_label(b)} are nearly one direction (cosine "
        f"{cosine:+.2f}): it draws them together, so with the others kept neither slider moves much."
        for a, b, cosine in aligned_pairs(found)
    ]
    return " ".join(sentences)


@torch.inference_mode()
def entanglement(
    generator: torch.nn.Module,
    judge: JudgeClassifier,
    found: AttributeDirections,
    keep_others: bool = False,
    n: int = 64,
    amounts: tuple[float, ...] = ENTANGLEMENT_AMOUNTS,
    distribution: str = "normal",
    seed: int = 1,
) -> torch.Tensor:
    """(directions, amounts, attributes): the judge's mean reading of every attribute in `n` samples (seeded)
    moved by each amount along each direction. Row [k, :, k] is how well direction k does its job; the
    other columns are what it drags along."""
    z = sample_noise(n, generator.config.nz, distribution, seed=seed)
    table = torch.zeros(len(found.names), len(amounts), len(judge.config.attributes))
    for k, name in enumerate(found.names):
        direction = found.direction(name, keep_others)
        moved = torch.cat([z + amount * direction for amount in amounts])
        read = read_attributes(generator, judge, moved)
        table[k] = read.view(len(amounts), n, -1).mean(1)
    return table


def entanglement_markdown(found: AttributeDirections, table: torch.Tensor, amounts=ENTANGLEMENT_AMOUNTS) -> str:
    """The table as markdown: one row per slider and amount, one column per attribute (the judge's mean
    reading in %), the slider's own attribute in bold."""
    attributes = list(found.positive_share)
    header = "| slider | moved | " + " | ".join(attribute_label(name) for name in attributes) + " |"
    lines = [header, "|" + "---|" * (len(attributes) + 2)]
    for k, name in enumerate(found.names):
        for a, amount in enumerate(amounts):
            cells = []
            for j, other in enumerate(attributes):
                cell = f"{100 * float(table[k, a, j]):.0f}%"
                cells.append(f"**{cell}**" if other == name else cell)
            lines.append(f"| {attribute_label(name)} | {amount:+.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
