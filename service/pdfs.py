"""What is done with printed PDFs after the browser: several merged into one document in order (pypdf), and
PDF/A-2b made with Ghostscript (Debian's ``ghostscript``): XMP identification, an sRGB output intent, every
font embedded.  Both run in the I/O executor, never in a capture worker (the browser is free meanwhile)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from pypdf import PdfReader, PdfWriter

from service.errors import BackendUnavailable, OutputTooLarge

SRGB = Path("/usr/share/color/icc/ghostscript/srgb.icc")  # Debian's ghostscript ships it
# the PDF/A output intent, as Ghostscript's documentation describes it (pdfmark operators)
_PDFA_DEF = """/ICCProfile ({icc}) def
[/_objdef {{icc_PDFA}} /type /stream /OBJ pdfmark
[{{icc_PDFA}} << /N 3 >> /PUT pdfmark
[{{icc_PDFA}} ICCProfile (r) file /PUT pdfmark
[/_objdef {{OutputIntent_PDFA}} /type /dict /OBJ pdfmark
[{{OutputIntent_PDFA}} << /Type /OutputIntent /S /GTS_PDFA1 /DestOutputProfile {{icc_PDFA}}
  /OutputConditionIdentifier (sRGB) /Info (sRGB IEC61966-2.1) >> /PUT pdfmark
[{{Catalog}} << /OutputIntents [ {{OutputIntent_PDFA}} ] >> /PUT pdfmark
"""


def merge(documents: list[bytes], max_pages: int) -> bytes:
    """The documents as one, in order (each keeps its own pages, outline and page numbers); OutputTooLarge
    when together they have more than ``max_pages``."""
    writer = PdfWriter()
    for document in documents:
        writer.append(PdfReader(io.BytesIO(document)))
        if len(writer.pages) > max_pages:
            raise OutputTooLarge(f"the merged PDF has more than the {max_pages} pages allowed")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def ghostscript() -> str | None:
    """Ghostscript's executable, when it and its sRGB profile are installed."""
    found = shutil.which("gs")
    return found if found is not None and SRGB.is_file() else None


def to_pdfa(document: bytes, timeout: float, max_bytes: int) -> bytes:
    """``document`` as PDF/A-2b; BackendUnavailable when Ghostscript fails or takes longer than ``timeout``."""
    gs = ghostscript()
    if gs is None:
        raise BackendUnavailable("Ghostscript is not installed: no PDF/A")
    with tempfile.TemporaryDirectory(prefix="snapshot-pdfa-") as scratch:
        directory = Path(scratch)
        (directory / "in.pdf").write_bytes(document)
        (directory / "pdfa.ps").write_text(_PDFA_DEF.format(icc=SRGB))
        command = [
            gs, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dPDFA=2", "-dPDFACompatibilityPolicy=1",
            "-sColorConversionStrategy=RGB", "-sDEVICE=pdfwrite", f"--permit-file-read={SRGB}",
            f"-sOutputFile={directory / 'out.pdf'}", str(directory / "pdfa.ps"), str(directory / "in.pdf"),
        ]  # fmt: skip
        try:
            subprocess.run(command, capture_output=True, timeout=max(1.0, timeout), check=True, cwd=scratch)
        except subprocess.TimeoutExpired:
            raise BackendUnavailable("Ghostscript did not make the PDF/A in time") from None
        except subprocess.CalledProcessError as exc:
            raise BackendUnavailable(f"Ghostscript failed: {exc.stderr.decode(errors='replace')[-300:]}") from None
        out = directory / "out.pdf"
        if out.stat().st_size > max_bytes:
            raise OutputTooLarge(f"the PDF/A is more than the {max_bytes} bytes allowed")
        return out.read_bytes()
