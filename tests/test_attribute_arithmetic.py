"""The paper's Figure 7 sums measured (dcgan/explore/attribute_arithmetic.py), on a generator whose attributes are known
functions of z: A − B + C must carry the answer far more often than C alone, and the numbers repeat."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from helpers import ZShownAsPixels

from dcgan.errors import DcganError
from dcgan.explore import attributes as attribute_directions
from dcgan.explore.attribute_arithmetic import PAPER_SUMS, example_results, measure_sum, rates_markdown

NZ = 8
ATTRIBUTES = ["female", "glasses", "smiling", "facial_hair", "hat"]


def read_z(judge, images):
    """female when z0 > 0, glasses when z1 > 0, a smile when z2 > 0; beard and hat never."""
    z = images[:, :, 0, 0]
    soft = torch.sigmoid(6 * z[:, :3])
    return torch.cat([soft, torch.zeros(len(z), 2)], 1)


@pytest.fixture
def judge(monkeypatch):
    monkeypatch.setattr(attribute_directions, "attribute_probabilities", read_z)
    return SimpleNamespace(config=SimpleNamespace(attributes=ATTRIBUTES))


def test_the_sum_carries_the_answer_and_c_alone_does_not(judge):
    glasses = PAPER_SUMS[0]
    rates, counts = measure_sum(ZShownAsPixels(), judge, glasses, sizes=(1, 3, 5), triples=100, pool=2000)
    assert [rate.size for rate in rates] == [1, 3, 5] and all(rate.triples == 100 for rate in rates)
    assert min(counts.values()) > 200  # a quarter of the pool is each group, minus the unsure ones
    for rate in rates:
        assert rate.plain_c < 0.05 and rate.plain_a < 0.05  # C is a woman without glasses; A a man with
        assert rate.result > 0.6, rate
    assert rates[2].result >= rates[0].result  # averaging exemplars cancels what they do not share
    again, _ = measure_sum(ZShownAsPixels(), judge, glasses, sizes=(1, 3, 5), triples=100, pool=2000)
    assert again == rates  # seeded
    table = rates_markdown(glasses, rates, counts)
    assert "| exemplars averaged | triples | A − B + C read as woman with glasses | C alone | A alone |" in table
    assert f"| 3 | 100 | **{rates[1].result:.0%}** |" in table


def test_the_smile_sum_and_its_example_rows(judge):
    smile = PAPER_SUMS[1]
    assert smile.answer == {"female": False, "smiling": True}
    rows = example_results(ZShownAsPixels(), judge, smile, size=3, count=4, pool=2000)
    assert rows.shape == (16, NZ, 1, 1)
    a, b, c, result = rows.view(4, 4, NZ).unbind(1)
    assert torch.allclose(result, a - b + c, atol=1e-6)  # each row: A, B, C averages, then A − B + C
    assert bool((a[:, 2] > 0).all() and (c[:, 0] < 0).all())  # smiling exemplars in A, men in C


def test_a_model_without_a_groups_exemplars_is_told_so(judge, monkeypatch):
    never_female = lambda judge, images: read_z(judge, images) * torch.tensor([0.0, 1, 1, 1, 1])  # noqa: E731
    monkeypatch.setattr(attribute_directions, "attribute_probabilities", never_female)
    rates, counts = measure_sum(ZShownAsPixels(), judge, PAPER_SUMS[0], triples=10, pool=500)
    assert rates == [] and counts["C"] == 0
    assert "too few exemplars" in rates_markdown(PAPER_SUMS[0], rates, counts)
    with pytest.raises(DcganError, match="too few samples of group C"):
        example_results(ZShownAsPixels(), judge, PAPER_SUMS[0], pool=500)


def test_the_figure_command_needs_seeds_or_measure_and_a_judge_that_reads_faces(tmp_path, capsys):
    from browser.app_server import tiny_model_folder

    from dcgan.cli.main import main

    model = tiny_model_folder(tmp_path / "tiny")  # a Fashion-MNIST model: its judge reads classes only
    out = tmp_path / "fig.png"
    assert main(["figure", "arithmetic", "--model", str(model), "--out", str(out), "--a", "1"]) != 0
    assert "needs --b, --c" in capsys.readouterr().err
    assert main(["figure", "arithmetic", "--model", str(model), "--out", str(out), "--measure"]) != 0
    assert "judge reads woman, glasses and smile" in capsys.readouterr().err
    assert not out.exists()
