"""Progress of long work outside MCP: `jarvis-mcp import documents` shows each file's milestones (pages
extracted, passages embedded) on stderr, the summary on stdout."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF
from servers import run_cli


def make_pdf(path: Path, pages: list[str]) -> Path:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 5, text)
    path.write_bytes(bytes(pdf.output()))
    return path


@pytest.mark.parametrize("line", ["The lease of the flat, clause {i}. ", "Contrato de alquiler del piso, cláusula {i}. "],
                         ids=["en", "es"])
def test_importing_a_pdf_shows_its_pages_and_passages(tmp_path: Path, line: str) -> None:
    pdf = make_pdf(tmp_path / "lease.pdf", [line.format(i=i) * 40 for i in range(1, 4)])
    done = run_cli(["import", "documents", str(pdf)], home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "extracted 3 pages" in done.stderr
    passages = int(done.stdout.split("(")[1].split()[0])
    assert passages > 0 and f"embedded {passages} of {passages} passages" in done.stderr
    assert "extracted" not in done.stdout  # stdout carries the summary only
