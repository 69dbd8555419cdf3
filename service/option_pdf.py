"""The options of ``/create_pdf``: paper, margins, scale, page ranges, headers and footers, outline, tagged PDF,
PDF/A and several pages in one document.  Fields of ``service.options.CaptureOptions`` like every option (a
base class of it, kept apart to keep each module readable); ``print_params`` is what the browser is asked
(``Page.printToPDF``), ``service/pdfs.py`` what is done with its PDFs afterwards.

Header and footer templates are HTML with Chromium's ``pageNumber``, ``totalPages``, ``date``, ``title`` and
``url`` classes.  Chromium renders them in a document of their own, where no script runs and nothing is
fetched from the network; the service refuses (400) any template with a script, an event handler or a URL
other than ``data:`` in the first place, so that this holds whatever a browser version does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from service.option_fields import MARGIN, MARGIN_INCHES, PAPER_FORMATS, PDF, Group, option

MAX_TEMPLATE = 16384  # characters of a header or footer template
MAX_PAPER_INCHES = 200.0  # Chromium's largest page side
PAGE_RANGES = re.compile(
    r"\s*[1-9][0-9]{0,4}(\s*-\s*[1-9][0-9]{0,4})?(\s*,\s*[1-9][0-9]{0,4}(\s*-\s*[1-9][0-9]{0,4})?)*\s*"
)
_LENGTH = "a number with mm, cm, in or px"
_EMPTY_TEMPLATE = "<span></span>"  # Chromium's own header or footer when only the other is given


def _margin(side: str) -> Any:
    return option(Group.PDF, None, f"The {side} margin ({_LENGTH}; default: pdf_margin).", endpoints=PDF)


@dataclass(frozen=True)
class PdfOptions:
    pdf_paper_format: str = option(Group.PDF, "a4", "Paper size.", endpoints=PDF, choices=tuple(PAPER_FORMATS))
    pdf_paper_width: str | None = option(
        Group.PDF, None, f"Paper width ({_LENGTH}; with pdf_paper_height, instead of pdf_paper_format).", endpoints=PDF
    )
    pdf_paper_height: str | None = option(Group.PDF, None, f"Paper height ({_LENGTH}).", endpoints=PDF)
    pdf_landscape: bool = option(Group.PDF, False, "Landscape orientation.", endpoints=PDF)
    pdf_print_background: bool = option(Group.PDF, True, "Print background colours and images.", endpoints=PDF)
    pdf_margin: str = option(Group.PDF, "0", f"Margin on every side: {_LENGTH}.", endpoints=PDF)
    pdf_margin_top: str | None = _margin("top")
    pdf_margin_right: str | None = _margin("right")
    pdf_margin_bottom: str | None = _margin("bottom")
    pdf_margin_left: str | None = _margin("left")
    pdf_scale: float | None = option(
        Group.PDF, None, "Scale of the page's rendering (0.1 to 2; default 1).", endpoints=PDF, minimum=0, maximum=2
    )
    pdf_page_ranges: str | None = option(
        Group.PDF, None, "Pages to print, e.g. `1-3,5` (a range past the last page is a 400).", endpoints=PDF
    )
    pdf_header_template: str | None = option(
        Group.PDF,
        None,
        "HTML of each page's header, with the classes pageNumber, totalPages, date, title and url; no script, "
        "no URL but data: (the margin must leave it room).",
        endpoints=PDF,
        multiline=True,
    )
    pdf_footer_template: str | None = option(
        Group.PDF, None, "HTML of each page's footer, as pdf_header_template.", endpoints=PDF, multiline=True
    )
    pdf_prefer_css_page_size: bool = option(
        Group.PDF, False, "The page's own CSS @page size wins over the paper options.", endpoints=PDF
    )
    pdf_single_page: bool = option(
        Group.PDF, False, "The whole page on one sheet as tall as the page (at most 200 in).", endpoints=PDF
    )
    pdf_outline: bool = option(
        Group.PDF, False, "A document outline (bookmarks) from the page's headings.", endpoints=PDF
    )
    pdf_tagged: bool = option(Group.PDF, False, "A tagged, accessible PDF (a structure tree).", endpoints=PDF)
    pdf_pdfa: bool = option(
        Group.PDF,
        False,
        "PDF/A-2b for archiving: XMP identification, an sRGB output intent, every font embedded (Ghostscript).",
        endpoints=PDF,
    )
    urls: tuple[str, ...] = option(
        Group.PDF,
        (),
        "Several pages in one document: each URL printed with the same options, merged in this order "
        "(instead of url; at most SNAPSHOT_MAX_PDF_URLS).",
        endpoints=PDF,
    )


def inches(length: str) -> float:
    """A length (``12mm``, ``1.5in``, ``96px``, ``96``: px) in inches; ValueError when it is none."""
    match = MARGIN.fullmatch(length.strip())
    if match is None:
        raise ValueError(f"must be {_LENGTH}")
    return float(match.group(1)) * MARGIN_INCHES[match.group(2)]


def paper(o: PdfOptions) -> tuple[float, float]:
    """(width, height) of the paper in inches, landscape not applied."""
    if o.pdf_paper_width is not None and o.pdf_paper_height is not None:
        return inches(o.pdf_paper_width), inches(o.pdf_paper_height)
    return PAPER_FORMATS[o.pdf_paper_format]


def margins(o: PdfOptions) -> dict[str, float]:
    """Each side's margin in inches: its own option, else pdf_margin."""
    every = inches(o.pdf_margin)
    sides = {"Top": o.pdf_margin_top, "Right": o.pdf_margin_right, "Bottom": o.pdf_margin_bottom,
             "Left": o.pdf_margin_left}  # fmt: skip
    return {f"margin{side}": inches(given) if given is not None else every for side, given in sides.items()}


def print_params(o: PdfOptions, page_height: int, page_width: int, max_pages: int) -> dict[str, Any]:
    """``Page.printToPDF``'s parameters for these options (``page_height`` and ``page_width``: the page's CSS
    pixels, for pdf_single_page); without pdf_page_ranges one page more than ``max_pages`` at most is printed
    (to tell that there are more)."""
    width, height = paper(o)
    sides = margins(o)
    if o.pdf_single_page:
        width = min(MAX_PAPER_INCHES, page_width / 96 + sides["marginLeft"] + sides["marginRight"])
        height = min(MAX_PAPER_INCHES, page_height / 96 + sides["marginTop"] + sides["marginBottom"] + 0.01)
    params: dict[str, Any] = {
        "landscape": o.pdf_landscape and not o.pdf_single_page,
        "printBackground": o.pdf_print_background,
        "paperWidth": width,
        "paperHeight": height,
        **sides,
        "scale": o.pdf_scale if o.pdf_scale is not None else 1.0,
        "pageRanges": o.pdf_page_ranges.replace(" ", "") if o.pdf_page_ranges else f"1-{max_pages + 1}",
        "preferCSSPageSize": o.pdf_prefer_css_page_size,
        "generateDocumentOutline": o.pdf_outline,
        "generateTaggedPDF": o.pdf_tagged or o.pdf_outline,  # the outline is made from the structure
        "transferMode": "ReturnAsStream",
    }
    if o.pdf_header_template is not None or o.pdf_footer_template is not None:
        params["displayHeaderFooter"] = True
        params["headerTemplate"] = o.pdf_header_template or _EMPTY_TEMPLATE
        params["footerTemplate"] = o.pdf_footer_template or _EMPTY_TEMPLATE
    return params


class _TemplateCheck(HTMLParser):
    """What in a template could run or fetch: scripts, event handlers, URLs that are not data: URLs."""

    _URL_ATTRIBUTES = frozenset({"src", "href", "srcset", "action", "formaction", "poster", "data", "background",
                                 "xlink:href", "ping", "manifest", "codebase"})  # fmt: skip
    _ACTIVE = frozenset({"script", "iframe", "frame", "object", "embed", "link", "meta", "base", "form", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._ACTIVE:
            self.problems.append(f"<{tag}> is not allowed")
        for name, value in attrs:
            text = (value or "").strip().lower()
            if name.startswith("on"):
                self.problems.append(f"the {name} attribute is not allowed")
            elif name in self._URL_ATTRIBUTES and text and not text.startswith("data:"):
                self.problems.append(f"{name} must be a data: URL")
            elif name == "style" and _fetches(text):
                self.problems.append("styles may use data: URLs only")

    def handle_data(self, data: str) -> None:
        if self.lasttag == "style" and _fetches(data.lower()):
            self.problems.append("styles may use data: URLs only")


def _fetches(css: str) -> bool:
    """Whether CSS refers to something other than a data: URL (url(), @import, image-set)."""
    return "@import" in css or any(
        not part.strip(" '\"").startswith("data:") for part in re.findall(r"url\(([^)]*)\)", css)
    )


def template_problems(template: str) -> list[str]:
    """What makes a header or footer template one that could run a script or reach the network."""
    if len(template) > MAX_TEMPLATE:
        return [f"must be at most {MAX_TEMPLATE} characters"]
    check = _TemplateCheck()
    check.feed(template)
    check.close()
    return sorted(set(check.problems))


def pdf_problems(o: PdfOptions) -> list[tuple[str, str]]:
    """What is wrong with the PDF options, as (parameter, message)."""
    problems: list[tuple[str, str]] = []
    lengths = {"pdf_margin": o.pdf_margin, "pdf_paper_width": o.pdf_paper_width, "pdf_paper_height": o.pdf_paper_height,
               "pdf_margin_top": o.pdf_margin_top, "pdf_margin_right": o.pdf_margin_right,
               "pdf_margin_bottom": o.pdf_margin_bottom, "pdf_margin_left": o.pdf_margin_left}  # fmt: skip
    bad = [name for name, value in lengths.items() if value is not None and MARGIN.fullmatch(value.strip()) is None]
    problems += [(name, f"must be {_LENGTH}") for name in bad]
    if (o.pdf_paper_width is None) != (o.pdf_paper_height is None):
        problems.append(("pdf_paper_width", "pdf_paper_width and pdf_paper_height go together"))
    if not bad:
        width, height = paper(o)
        sides = margins(o)
        if not (0.1 <= width <= MAX_PAPER_INCHES and 0.1 <= height <= MAX_PAPER_INCHES):
            problems.append(("pdf_paper_width", f"the paper must be 0.1 to {MAX_PAPER_INCHES:g} inches on each side"))
        elif (
            sides["marginLeft"] + sides["marginRight"] >= width or sides["marginTop"] + sides["marginBottom"] >= height
        ):
            problems.append(("pdf_margin", "the margins leave no room on the paper"))
    if o.pdf_scale is not None and not 0.1 <= o.pdf_scale <= 2:
        problems.append(("pdf_scale", "must be 0.1 to 2"))
    if o.pdf_page_ranges is not None and PAGE_RANGES.fullmatch(o.pdf_page_ranges) is None:
        problems.append(("pdf_page_ranges", "must be pages and ranges like 1-3,5"))
    for name in ("pdf_header_template", "pdf_footer_template"):
        template = getattr(o, name)
        problems += [(name, problem) for problem in template_problems(template)] if template is not None else []
    if o.pdf_single_page and o.pdf_page_ranges is not None:
        problems.append(("pdf_single_page", "cannot be combined with pdf_page_ranges"))
    return problems
