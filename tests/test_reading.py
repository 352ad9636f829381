"""docs/READING.md, the order in which to read one training step, stays true: every file it
lists exists with the line count it states, the total is their sum and stays within the promise
of about 1,500 lines, and every layer module is on the list."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READING = ROOT / "docs" / "READING.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*\[`?([\w/.]+\.py)`?\]\([^)]*\)\s*\|\s*([\d,]+)\s*\|", re.M)
TOTAL = re.compile(r"^\|\s*\|\s*\*\*total\*\*\s*\|\s*\*\*([\d,]+)\*\*\s*\|", re.M)


def _rows():
    return [(int(n), path, int(lines.replace(",", "")))
            for n, path, lines in ROW.findall(READING.read_text())]


def _line_count(path):
    return len((ROOT / path).read_text().splitlines())


def test_reading_list_counts_are_true():
    rows = _rows()
    assert len(rows) >= 12, "docs/READING.md: no reading list found"
    assert [n for n, _, _ in rows] == list(range(1, len(rows) + 1)), "steps not numbered 1, 2, ..."
    wrong = {path: (stated, _line_count(path)) for _, path, stated in rows
             if not (ROOT / path).is_file() or _line_count(path) != stated}
    assert not wrong, f"docs/READING.md states wrong line counts (stated, true): {wrong}"


def test_reading_list_total_is_the_sum_and_about_1500_lines():
    total = TOTAL.findall(READING.read_text())
    assert len(total) == 1, "docs/READING.md: one '| | **total** | **N** |' row"
    stated = int(total[0].replace(",", ""))
    assert stated == sum(lines for _, _, lines in _rows())
    assert stated <= 1500, f"one training step now takes {stated} lines to read"


def test_every_layer_is_on_the_reading_list():
    listed = {path for _, path, _ in _rows()}
    layers = {f"numpynet/layers/{p.name}" for p in (ROOT / "numpynet" / "layers").glob("*.py")
              if p.name != "__init__.py"}
    assert layers <= listed, f"not on docs/READING.md: {sorted(layers - listed)}"
