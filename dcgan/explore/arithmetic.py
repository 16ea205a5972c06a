"""Vector arithmetic (the paper's Figure 7): A − B + C on averaged exemplars, the 3x3 neighbourhood, class
vectors, and the worked example the app opens with (the paper's own sum when the judge finds it, else the
best-closing class triple, by a stated rule)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from dcgan.errors import DcganError
from dcgan.explore.explorer import A_CLASSIFIER, Explorer
from dcgan.nets.latent import arithmetic, generate, group_mean, neighbourhood, sample_noise
from dcgan.nets.workload import EXAMPLE_BATCHES, GALLERY_SIZE, TRIPLE_CLASSES

ARITHMETIC_GROUPS = ("A", "B", "C")  # A - B + C
NEIGHBOURHOOD_SCALE = 0.25  # the paper's 3x3 grids: the result plus small noise (times z's spread)
CLASS_STEPS = 5  # images from the start to start + class vector


# ---- vector arithmetic ---------------------------------------------------------------------------------------


def seeds_z(explorer: Explorer, seeds: list[int]) -> torch.Tensor:
    """(len(seeds), nz): each seed's z (a group of exemplars named by seeds, as the CLI takes them)."""
    return torch.cat([sample_noise(1, explorer.nz, explorer.noise, seed=seed) for seed in seeds])


def arithmetic_latents(explorer: Explorer, groups: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: (n, nz)} for the groups holding exemplars ((k, nz) each, keyed "A", "B", "C").

    Names: "<G> picks" (the exemplars) and "<G> mean" (their average) for each such group; and, when
    every group has one, "neighbourhood" (A - B + C on the averages first, then 8 small moves around it:
    the 3x3 grid) and "single" (A - B + C on the first exemplar of each group).
    """
    groups = {group: groups[group] for group in ARITHMETIC_GROUPS if group in groups and len(groups[group])}
    latents = {}
    for group, zs in groups.items():
        if zs.dim() != 2 or zs.shape[1] != explorer.nz:
            raise DcganError(f"group {group}'s z's have shape {tuple(zs.shape)}; this model's z has {explorer.nz}")
        latents[f"{group} picks"] = zs
        latents[f"{group} mean"] = group_mean(zs)[None]
    if len(groups) == len(ARITHMETIC_GROUPS):
        averaged = arithmetic(groups["A"], groups["B"], groups["C"])
        latents["neighbourhood"] = neighbourhood(averaged, n=9, scale=NEIGHBOURHOOD_SCALE * explorer.noise_std)
        latents["single"] = (groups["A"][0] - groups["B"][0] + groups["C"][0])[None]
    return latents


def gallery_z(explorer: Explorer, batch_seed: int) -> torch.Tensor:
    """(GALLERY_SIZE, nz): the arithmetic gallery's batch; sample i of batch s is row i of seed s, so
    "#i of batch s" (a link's "s.i") names one z for good."""
    return sample_noise(GALLERY_SIZE, explorer.nz, explorer.noise, seed=batch_seed)


# ---- the worked arithmetic example, chosen by a measured rule (issue 25) --------------------------------------
#
# The paper's smiling woman − neutral woman + neutral man = smiling man is a parallelogram: the result is C
# changed the way A differs from B, and A changed the way C differs from B. With a judge, every triple of
# classes the model draws is tried and the one whose result closes that parallelogram best, in the judge's
# feature space, is the example: a measured choice, not a hand-picked one ("sneakers − sandals + boots" gave a
# boot, C alone).

CONFIDENT = 0.5  # a gallery sample counts as its class when the judge gives that class at least this
RECOGNISABLE = 0.5  # the result must be something: the judge's top probability on it at least this
MIN_CLOSURE = 0.1  # a worked example moves at least 10% of the way along both sides of the parallelogram
# The paper's own Figure 7 sums, as a faces judge's classes (A, B, C): taken as the worked example when the judge
# has these classes and the model draws them (its rule's best is reported beside it)
PAPER_CLASS_TRIPLES = (("man, glasses", "man", "woman"), ("woman, smiling", "woman", "man"))
WORKED_ARITHMETIC_RULE = (
    "Chosen by a measured rule: every triple of classes the model draws was tried (the {per} gallery samples "
    "of batches 0-{last} the judge is surest are each class, averaged); the example is the one whose result moves, "
    "in the judge's feature space, furthest from C in the direction of A − B and from A in the direction of "
    "C − B (the smaller of the two shares of the way, 1 = the whole side of the parallelogram), among those "
    "whose averages read as their classes and whose result reads as something (>= {recognisable:.0%})."
)


@dataclass(frozen=True)
class RankedTriple:
    """One A − B + C of class averages, scored by how well it closes the parallelogram (see parallelogram_score)."""

    classes: tuple[str, str, str]  # A, B, C; a result that reads as A's or C's class reads as C's (the paper's order)
    score: float  # min(along_ab, along_cb)
    along_ab: float  # share of f(A) − f(B) that f(result) − f(C) covers (1: all of it)
    along_cb: float  # share of f(C) − f(B) that f(result) − f(A) covers
    result_class: str  # what the judge calls the result
    result_confidence: float  # and how sure it is


@dataclass(frozen=True)
class WorkedArithmetic:
    """The arithmetic tab's worked example: per group, (batch seed, index) of its gallery samples, their classes,
    and the measured score (None for the mechanics only: no judge, or no triple closes the parallelogram)."""

    picks: dict[str, list[tuple[int, int]]]
    classes: tuple[str, str, str] | None
    score: float | None
    ranking: list[RankedTriple]  # every eligible triple, best first (empty without a judge)
    rule: str  # the rule in words (markdown), with this model's number when there is one


def parallelogram_score(
    f_a: torch.Tensor, f_b: torch.Tensor, f_c: torch.Tensor, f_result: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(score, along_ab, along_cb), each (N,), for features (N, D) of A, B, C and the result of A − B + C.

    along_ab = (f(r) − f(c))·(f(a) − f(b)) / |f(a) − f(b)|²: how far the result went from C the way A differs
    from B (0: it is just C); along_cb the same from A along C − B (0: it is just A). score = the smaller: a
    result has to be both at once, so either trivial case scores about 0 however large the other share is."""
    ab, cb = f_a - f_b, f_c - f_b
    tiny = torch.finfo(ab.dtype).tiny  # equal features: no side to move along (the share is 0, not NaN)
    along_ab = ((f_result - f_c) * ab).sum(1) / ab.pow(2).sum(1).clamp(min=tiny)
    along_cb = ((f_result - f_a) * cb).sum(1) / cb.pow(2).sum(1).clamp(min=tiny)
    return torch.minimum(along_ab, along_cb), along_ab, along_cb


def class_exemplars(
    explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_class: int = 3
) -> dict[str, list[tuple[int, int]]]:
    """{class: (batch seed, index) of its `per_class` samples in gallery batches 0 .. batches-1 that the judge is
    surest are that class (at least CONFIDENT), in gallery order} for each class with that many, in the judge's
    class order; {} without a judge. One generator and one judge forward."""
    return {name: picks for name, (picks, _) in _exemplars_and_counts(explorer, batches, per_class).items()}


def _exemplars_and_counts(
    explorer: Explorer, batches: int, per_class: int
) -> dict[str, tuple[list[tuple[int, int]], int]]:
    """class_exemplars, with each class's number of confident samples."""
    judge = explorer.judge()
    if judge is None:
        return {}
    images = generate(explorer.generator, torch.cat([gallery_z(explorer, seed) for seed in range(batches)]))
    with torch.inference_mode():
        # log-probabilities: softmax rounds many sure samples to exactly 1.0, its log keeps them apart
        sureness, called = judge(images).log_softmax(1).max(1)
    found = {}
    for index, name in enumerate(judge.config.class_names):
        confident = ((called == index) & (sureness >= math.log(CONFIDENT))).nonzero().flatten()
        if len(confident) >= per_class:
            surest = confident[torch.argsort(sureness[confident], descending=True, stable=True)][:per_class]
            found[name] = ([divmod(int(i), GALLERY_SIZE) for i in sorted(surest.tolist())], len(confident))
    return found


def picks_z(explorer: Explorer, picks: list[tuple[int, int]]) -> torch.Tensor:
    """(len(picks), nz): the z of gallery samples named (batch seed, index), in that order."""
    return torch.stack([gallery_z(explorer, batch)[index] for batch, index in picks])


def rank_class_triples(explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_class: int = 3) -> list[RankedTriple]:
    """Every A − B + C of three distinct classes' averages (class_exemplars), scored by parallelogram_score on
    the judge's features of the four images the tab draws (G of the averages, G of A − B + C); best first,
    only those whose averages the judge reads as their classes and whose result it reads as something
    (RECOGNISABLE). [] without a judge. A − B + C = C − B + A, so each result is drawn once: one generator
    and one judge forward of at most 10 + 360 images (TRIPLE_CLASSES)."""
    return _ranked_triples(explorer, batches, per_class)[0]


def _ranked_triples(
    explorer: Explorer, batches: int, per_class: int
) -> tuple[list[RankedTriple], dict[str, list[tuple[int, int]]]]:
    """rank_class_triples, and class_exemplars it ranked."""
    judge = explorer.judge()
    found = _exemplars_and_counts(explorer, batches, per_class)
    exemplars = {name: picks for name, (picks, _) in found.items()}
    if judge is None or len(found) < 3:
        return [], exemplars
    names = list(judge.config.class_names)
    # The shipped sets' classes all fit; of a bigger label set, those the model draws most often (stable sort:
    # ties keep the class order), kept in the class order.
    most_drawn = sorted(found, key=lambda name: -found[name][1])[:TRIPLE_CLASSES]
    kept = [name for name in found if name in most_drawn]
    if len(kept) < 3:
        return [], exemplars
    groups = {name: picks_z(explorer, found[name][0]) for name in kept}
    # (a, b, c) with a < c: the result is symmetric in A and C
    triples = [(a, b, c) for b in kept for a in kept for c in kept if kept.index(a) < kept.index(c) and b not in (a, c)]
    means = torch.stack([group_mean(groups[name]) for name in kept])
    results = torch.stack([arithmetic(groups[a], groups[b], groups[c]) for a, b, c in triples])
    images = generate(explorer.generator, torch.cat([means, results]))
    with torch.inference_mode():
        features, logits = judge.features_and_logits(images)
    probabilities = logits.softmax(1)
    mean_features, result_features = features[: len(kept)], features[len(kept) :]
    reads_as_itself = [names[int(probabilities[k].argmax())] == name for k, name in enumerate(kept)]
    row = {name: k for k, name in enumerate(kept)}
    a_rows, b_rows, c_rows = (torch.tensor([row[t[i]] for t in triples]) for i in range(3))
    score, along_ab, along_cb = parallelogram_score(
        mean_features[a_rows], mean_features[b_rows], mean_features[c_rows], result_features
    )
    confidence, called = probabilities[len(kept) :].max(1)
    ranked = []
    for t, (a, b, c) in enumerate(triples):
        if not all(reads_as_itself[row[name]] for name in (a, b, c)) or float(confidence[t]) < RECOGNISABLE:
            continue
        shares = (float(along_ab[t]), float(along_cb[t]))
        result_class = names[int(called[t])]
        if result_class == a:  # the paper's order: C, changed the way A differs from B
            a, c, shares = c, a, shares[::-1]
        ranked.append(RankedTriple((a, b, c), float(score[t]), *shares, result_class, float(confidence[t])))
    # stable: equal scores keep the class order
    return sorted(ranked, key=lambda triple: -triple.score), exemplars


def worked_arithmetic(explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_group: int = 3) -> WorkedArithmetic:
    """The worked A − B + C: the paper's own sum when the judge's classes hold it (PAPER_CLASS_TRIPLES: faces),
    else the best of rank_class_triples when it scores at least MIN_CLOSURE, with its gallery picks; else the
    mechanics only (the first samples of batch 0 in turn, classes None). Computed once
    per model with the defaults (Explorer.example; the app warms it at start)."""

    def choose() -> WorkedArithmetic:
        mechanics = {
            group: [(0, per_group * g + i) for i in range(per_group)] for g, group in enumerate(ARITHMETIC_GROUPS)
        }
        rule = WORKED_ARITHMETIC_RULE.format(per=per_group, last=batches - 1, recognisable=RECOGNISABLE)
        ranking, exemplars = _ranked_triples(explorer, batches, per_group)
        paper = _paper_triple(ranking)
        if paper is not None:
            best = ranking[0]
            rule = (
                f"The paper's own sum (its Figure 7): {' − '.join(paper.classes[:2])} + {paper.classes[2]}, the "
                f"{per_group} gallery samples of batches 0-{batches - 1} the judge is surest are each class, averaged. "
                f"Its score by the measured rule used for other models: **{paper.score:.2f}** (the best of "
                f"{len(ranking)} triples scores {best.score:.2f}: {' − '.join(best.classes[:2])} + {best.classes[2]})."
            )
            picks = {group: exemplars[name] for group, name in zip(ARITHMETIC_GROUPS, paper.classes, strict=True)}
            return WorkedArithmetic(picks, paper.classes, paper.score, ranking, rule)
        if not ranking or ranking[0].score < MIN_CLOSURE:
            best = f" The best scores {ranking[0].score:.2f}" if ranking else " No triple is eligible"
            rule += f"{best}, under {MIN_CLOSURE}: no worked example, only the mechanics."
            return WorkedArithmetic(mechanics, None, None, ranking, rule if explorer.judge() else "")
        best = ranking[0]
        picks = {group: exemplars[name] for group, name in zip(ARITHMETIC_GROUPS, best.classes, strict=True)}
        a, b, c = best.classes
        rule += (
            f" Here: {a} − {b} + {c}, of {len(ranking)} eligible triples; the result (a {best.result_class}, "
            f"{best.result_confidence:.0%}) went {best.along_ab:.2f} of the way from {c} along {a} − {b} and "
            f"{best.along_cb:.2f} from {a} along {c} − {b}: **score {best.score:.2f}**."
        )
        return WorkedArithmetic(picks, best.classes, best.score, ranking, rule)

    if (batches, per_group) != (EXAMPLE_BATCHES, 3):
        return choose()
    return explorer.example("worked arithmetic", choose)


def _paper_triple(ranking: list[RankedTriple]) -> RankedTriple | None:
    """The first of PAPER_CLASS_TRIPLES among the ranked (eligible) triples, in the paper's order (A − B + C =
    C − B + A, so the ranking may hold it the other way round), or None."""
    for a, b, c in PAPER_CLASS_TRIPLES:
        for ranked in ranking:
            if ranked.classes == (a, b, c):
                return ranked
            if ranked.classes == (c, b, a):
                return dataclasses.replace(
                    ranked, classes=(a, b, c), along_ab=ranked.along_cb, along_cb=ranked.along_ab
                )
    return None


def example_classes(explorer: Explorer) -> tuple[str, str, str] | None:
    """The worked arithmetic's classes (A, B, C: worked_arithmetic's measured choice), or None without one."""
    return worked_arithmetic(explorer).classes


def prepared_picks(
    explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_group: int = 3
) -> tuple[dict[str, list[tuple[int, int]]], tuple[str, str, str] | None]:
    """A worked arithmetic (worked_arithmetic): per group, (batch seed, index) of `per_group` gallery samples,
    and the classes they are of (None: the mechanics only, the first samples of batch 0 in turn)."""
    worked = worked_arithmetic(explorer, batches, per_group)
    return worked.picks, worked.classes


def arithmetic_images(explorer: Explorer, groups: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: (n, nc, S, S)} for arithmetic_latents' names, plus "averaged" (the neighbourhood's centre: A - B + C
    on the averages); one generator forward for all of them."""
    latents = arithmetic_latents(explorer, groups)
    if not latents:
        return {}
    images = generate(explorer.generator, torch.cat(list(latents.values())))
    out = dict(zip(latents, images.split([len(batch) for batch in latents.values()]), strict=True))
    if "neighbourhood" in out:
        out["averaged"] = out["neighbourhood"][:1]
    return out


def describe_arithmetic(counts: dict[str, int]) -> str:
    """What the averaged result adds up ("A − (mean of 2 B) + C"), given each group's exemplar count."""
    terms = " ".join(
        f"{sign} (mean of {counts[group]} {group})" if counts[group] > 1 else f"{sign} {group}"
        for sign, group in zip(("", "−", "+"), ARITHMETIC_GROUPS, strict=True)
    )
    return terms.strip()


def class_vector_strip(explorer: Explorer, source: str, target: str, seed: int) -> tuple[torch.Tensor, str]:
    """(5, nc, S, S): seed's z moved by t * (mean z of `target` - mean z of `source`), t = 0 ... 1."""
    found = explorer.class_means()
    if found is None:
        raise DcganError(f"class vectors need {A_CLASSIFIER}")
    names, means, counts = found
    for name in (source, target):
        if name not in names:
            raise DcganError(f"pick a class from the list, not {name!r}")
        if counts[names.index(name)] == 0:
            raise DcganError(f"this model never clearly draws a {name}: no class vector for it")
    vector = means[names.index(target)] - means[names.index(source)]
    start_seed, start = first_seed_of_class(explorer, names.index(source), seed)
    amounts = torch.linspace(0, 1, CLASS_STEPS)
    images = generate(explorer.generator, start + amounts[:, None] * vector)
    readout = judge_readout(explorer, images)
    reached = [t for t, (name, _) in zip(amounts.tolist(), readout, strict=True) if name == target]
    verdict = f"it reads as {target} from t = {reached[0]:.2f}" if reached else f"it never reads as {target}"
    caption = (
        f"seed {start_seed} (the first seed from {seed} on that the judge calls a {source}) + t × (mean z of "
        f"{counts[names.index(target)]} {target} − mean z of {counts[names.index(source)]} {source}), t from 0 to 1."
        f"\n\nThe judge reads each frame as: "
        + " → ".join(f"{name} {100 * confidence:.0f}%" for name, confidence in readout)
        + f": **{verdict}**."
    )
    return images, caption


def judge_readout(explorer: Explorer, images: torch.Tensor) -> list[tuple[str, float]]:
    """What the judge calls each image (N, nc, S, S), and how sure it is: so a class vector's success is read,
    not guessed. DcganError without a judge."""
    judge = explorer.judge()
    if judge is None:
        raise DcganError(f"reading images as classes needs {A_CLASSIFIER}")
    with torch.inference_mode():
        confidence, predicted = judge(images).softmax(1).max(1)
    return [(judge.config.class_names[int(c)], float(p)) for c, p in zip(predicted, confidence, strict=True)]


def first_seed_of_class(explorer: Explorer, class_index: int, seed: int, tries: int = 64) -> tuple[int, torch.Tensor]:
    """The first seed >= `seed` whose image the judge puts in the class, and its (1, nz) z (one batch)."""
    seeds = list(range(seed, seed + tries))
    z = torch.cat([sample_noise(1, explorer.nz, explorer.noise, seed=s) for s in seeds])
    with torch.inference_mode():
        predicted = explorer.judge()(generate(explorer.generator, z)).argmax(1)
    hits = (predicted == class_index).nonzero()
    if len(hits) == 0:
        raise DcganError(f"none of seeds {seed}-{seed + tries - 1} draws that class: try another start seed")
    index = int(hits[0])
    return seeds[index], z[index : index + 1]
