"""Render the measured sections of models/README.md from models/training_report.json.

    python3 -m tools.model_card [--report models/training_report.json] [--card models/README.md]

Replaces the text between ``<!-- report:begin -->`` and ``<!-- report:end -->``; the prose
around it is written by hand. Numbers are never typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"


def _row(name: str, m: dict[str, float]) -> str:
    located = f"{100 * m['part_located']:.1f} %" if "part_located" in m else "-"
    return (
        f"| {name} | {m['auc']:.4f} | {100 * m['accuracy']:.2f} % | {m['f1']:.4f} | {m['escapes']} ({100 * m['escape_rate']:.2f} %) "
        f"| {m['false_rejects']} ({100 * m['false_reject_rate']:.2f} %) | {located} |"
    )


def _head(first_column: str) -> list[str]:
    """The head of a table of the figures ``_row`` writes."""
    return [f"| {first_column} | ROC AUC | accuracy | F1 | escapes | false rejects | part located |", "|---|---|---|---|---|---|---|"]


def _table(intro: str, first_column: str, rows: list[str]) -> list[str]:
    """A paragraph, then a table of the figures ``_row`` writes, after a blank line each."""
    return ["", intro, "", *_head(first_column), *rows]


def render(report: dict[str, object]) -> str:
    val = report["validation"]
    rob = report["robustness"]
    assert isinstance(val, dict) and isinstance(rob, dict)
    lines = [
        f"Training: {report['train_images']} photos, {report['epochs']} epochs, seed {report['seed']}, "
        f"{report['train_seconds']} s on the 2-core CPU. Near-duplicate groups: {report['near_duplicate_groups']} "
        f"(largest {report['largest_group']} photos; linking distance {report['tau']}). "
        f"Grouped validation split: {report['val_images']} photos ({report.get('split', 'drawn')}); "
        f"{report.get('linked_to_validation_left_out', 0)} photos linked to it by this run's grouping left out of training. "
        "Part not found by the locator in "
        f"{report['part_not_found']} training photos.",
        "",
        f"Decision threshold: **{report['threshold']}** (the highest that passes no defective validation photo); "
        f"uncertain band **{report['uncertain_band']}** (scores inside it are rejected as `uncertain`). "
        f"99th percentile of OK validation scores: {report['val_ok_scores_p99']}.",
        "",
        *_head("validation set (grouped split)"),
        _row("as photographed", val),
    ]
    lines += _table(
        "Robustness: the same validation photos re-shot (`tools/augment.py: ROBUSTNESS_VIEWS`), found by the "
        "station's own locator, scored at the same threshold (the uncertain band not applied):",
        "re-shot as",
        [_row(name.replace("_", " "), m) for name, m in rob.items()],
    )
    pins = report.get("pin_holes")
    if isinstance(pins, dict):
        lines += _table(
            "Pin holes per background brightness band (`tools/robustness.py: PIN_HOLE_BANDS`): every OK validation photo "
            "on that background twice, once as it is (OK) and once with 1-3 small pits painted on its lit metal (defective); "
            "escapes are painted photos passed:",
            "background",
            [_row(name.removeprefix("pin_holes_").replace("_", " "), m) for name, m in pins.items()],
        )
    turns = report.get("orientations")
    if isinstance(turns, dict):
        lines += _table(
            "Orientation: the same validation crops turned and flipped (the 8 ways a part can lie in its square crop), "
            "at the same threshold; on the line a part arrives at any of them:",
            "validation crops",
            [_row(name, m) for name, m in turns.items()],
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tools.model_card", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--report", type=Path, default=HERE / "models/training_report.json", help="the training report (JSON)")
    ap.add_argument("--card", type=Path, default=HERE / "models/README.md", help="the model card whose measured sections are rewritten")
    args = ap.parse_args(argv)
    card: Path = args.card
    try:
        report, text = json.loads(args.report.read_text()), card.read_text()
    except (OSError, ValueError) as exc:  # a file missing or unreadable, a report that is no JSON: one line, never a traceback
        print(f"model_card: {exc}", file=sys.stderr)
        return 2
    if BEGIN not in text or END not in text:
        print(f"{card}: markers {BEGIN} / {END} missing", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    card.write_text(f"{head}{BEGIN}\n{render(report)}\n{END}{tail}")
    print(f"updated {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
