"""The model card as the app shows it (dcgan/ui/picker.card_markdown): our own cards' images are served by
the app, '~2 h' is not strikethrough, and a stranger's card stays plain text."""

from __future__ import annotations

import pytest

pytest.importorskip("gradio")
from dcgan.ui import picker  # noqa: E402


@pytest.fixture
def served(tmp_path):
    assets = tmp_path / "assets" / "m"
    assets.mkdir(parents=True)
    (assets / "samples.png").write_bytes(b"\x89PNG fake")
    folder = tmp_path / "checkpoints" / "m"
    folder.mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"\x89PNG not ours")
    # The card's images are served, and only those; one outside the served folders is not, even linked.
    (folder / "README.md").write_text("![64 samples](../../assets/m/samples.png) ![secret](../../secret.png)")
    picker.serve_card_files(tmp_path / "checkpoints", tmp_path / "assets")
    yield folder
    picker.CARD_FILES.clear()


def test_our_cards_images_come_from_the_app_and_tildes_stay_tildes(served):
    card = "took ~2 h, ~95 images/s\n\n![64 samples](../../assets/m/samples.png)\n\n`ls ~/x` and `~1`"
    shown = picker.card_markdown(card, trusted=True, folder=served)
    path = (served / "../../assets/m/samples.png").resolve()
    assert f"![64 samples](/gradio_api/file={path})" in shown
    assert "≈2 h, ≈95 images/s" in shown and "~2" not in shown.split("`")[0]
    assert "`ls ~/x` and `~1`" in shown  # code is left alone


def test_images_outside_the_served_folders_or_missing_show_their_alt_text(served):
    card = "![secret](../../secret.png) ![gone](missing.png) ![remote](https://tracker.example/x.png)"
    shown = picker.card_markdown(card, trusted=True, folder=served)
    assert shown == "_secret_ _gone_ _remote_"


def test_a_strangers_card_is_plain_text(served):
    shown = picker.card_markdown("![x](../../assets/m/samples.png) ~2 h", trusted=False)
    assert "gradio_api" not in shown and "```text" in shown and "~2 h" in shown
