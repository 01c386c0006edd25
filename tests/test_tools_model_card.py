"""tools/model_card.py: the model card's measured sections, rendered from the training report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools import model_card

from .conftest import ROOT


def test_the_shipped_card_holds_what_the_shipped_report_renders(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    shutil.copy(ROOT / "models/README.md", card)
    assert model_card.main(["--card", str(card)]) == 0
    assert card.read_text() == (ROOT / "models/README.md").read_text(), "the card is rendered from the report, never typed"


def test_only_the_text_between_the_markers_is_rewritten_and_a_card_without_them_is_refused(tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text(f"by hand\n{model_card.BEGIN}\nold figures\n{model_card.END}\nalso by hand\n")
    assert model_card.main(["--card", str(card)]) == 0
    text = card.read_text()
    assert text.startswith(f"by hand\n{model_card.BEGIN}\nTraining: ") and text.endswith(f"{model_card.END}\nalso by hand\n")
    assert "old figures" not in text
    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n")
    assert model_card.main(["--card", str(bare)]) == 2 and bare.read_text() == "no markers\n"


def test_help_writes_nothing(tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("untouched\n")
    with pytest.raises(SystemExit):
        model_card.main(["--help", "--card", str(card)])
    assert card.read_text() == "untouched\n"


def test_a_report_or_card_that_cannot_be_read_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "card.md"
    card.write_text(f"{model_card.BEGIN}\n{model_card.END}\n")
    (tmp_path / "bad.json").write_text("{not json")
    for args in (["--report", str(tmp_path / "none.json")], ["--report", str(tmp_path / "bad.json")], ["--card", str(tmp_path / "no.md")]):
        assert model_card.main([*args, *(["--card", str(card)] if "--card" not in args else [])]) == 2
        err = capsys.readouterr().err
        assert err.startswith("model_card: ") and err.count("\n") == 1
    assert card.read_text() == f"{model_card.BEGIN}\n{model_card.END}\n"
