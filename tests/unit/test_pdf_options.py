"""The PDF options in process: validation, what the browser is asked (``Page.printToPDF``), header and
footer templates that could run or fetch refused, and the PDFs' post-processing (merging, PDF/A with the
real Ghostscript).  The same against real pages: ``tests/integration/test_pdf.py``."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader, PdfWriter

from service import pdfs
from service.config import Settings
from service.errors import InvalidRequest, OutputTooLarge
from service.option_pdf import print_params, template_problems
from service.options import Endpoint
from service.params import parse_capture_request


def parse(**given: str | list[str]):
    params = {k: v if isinstance(v, list) else [v] for k, v in {"url": "http://example.com/", **given}.items()}
    return parse_capture_request(params, Settings(max_pdf_urls=3), Endpoint.PDF)


def problems(**given: str | list[str]) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as info:
        parse(**given)
    return {d["parameter"]: d["message"] for d in info.value.details or []}


def blank(pages: int, width: float = 612, height: float = 792) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width, height)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_print_parameters_follow_the_options():
    o = parse(pdf_paper_width="100mm", pdf_paper_height="6in", pdf_margin="10mm", pdf_margin_top="1in",
              pdf_scale="0.5", pdf_page_ranges="1-3, 5", pdf_outline="true",
              pdf_footer_template="<span class=pageNumber></span>").options  # fmt: skip
    params = print_params(o, page_height=3000, page_width=1280, max_pages=100)
    assert params["paperWidth"] == pytest.approx(100 / 25.4) and params["paperHeight"] == 6
    assert params["marginTop"] == 1 and params["marginLeft"] == pytest.approx(10 / 25.4)
    assert (params["scale"], params["pageRanges"]) == (0.5, "1-3,5")
    assert params["generateDocumentOutline"] and params["generateTaggedPDF"]
    assert params["displayHeaderFooter"] and params["headerTemplate"] == "<span></span>"  # not Chrome's own
    default = print_params(parse().options, 3000, 1280, 100)
    assert (default["paperWidth"], default["paperHeight"], default["pageRanges"]) == (8.27, 11.7, "1-101")
    assert "displayHeaderFooter" not in default and default["scale"] == 1.0
    single = print_params(parse(pdf_single_page="true").options, 3000, 1280, 100)
    assert single["paperHeight"] == pytest.approx(3000 / 96 + 0.01) and single["paperWidth"] == pytest.approx(1280 / 96)


@pytest.mark.parametrize(
    ("given", "parameter"),
    [
        ({"pdf_paper_width": "10cm"}, "pdf_paper_width"),
        ({"pdf_paper_width": "wide", "pdf_paper_height": "1in"}, "pdf_paper_width"),
        ({"pdf_paper_width": "300in", "pdf_paper_height": "1in"}, "pdf_paper_width"),
        ({"pdf_margin_left": "5in", "pdf_margin_right": "5in"}, "pdf_margin"),
        ({"pdf_margin_top": "1 banana"}, "pdf_margin_top"),
        ({"pdf_scale": "3"}, "pdf_scale"),
        ({"pdf_scale": "0.01"}, "pdf_scale"),
        ({"pdf_page_ranges": "0-2"}, "pdf_page_ranges"),
        ({"pdf_page_ranges": "1-"}, "pdf_page_ranges"),
        ({"pdf_single_page": "true", "pdf_page_ranges": "1"}, "pdf_single_page"),
        ({"pdf_header_template": "<script>fetch('http://x/')</script>"}, "pdf_header_template"),
        ({"pdf_footer_template": "<img src='http://10.0.0.1/x.png'>"}, "pdf_footer_template"),
    ],
)
def test_bad_pdf_options_are_400s_naming_the_parameter(given, parameter):
    assert parameter in problems(**given)


@pytest.mark.parametrize(
    "template",
    [
        "<script>document.write(1)</script>",
        "<div onload=alert(1)>x</div>",
        "<img src=http://canary/x>",
        "<img srcset='https://canary/x 1x'>",
        "<div style='background: url(http://canary/bg)'>x</div>",
        "<style>@import 'http://canary/a.css'</style>",
        "<style>div { background: url( 'https://canary/b' ) }</style>",
        "<link rel=stylesheet href=http://canary/c.css>",
        "<iframe src=data:text/html,x></iframe>",
        "<svg><image href='http://canary/d'/></svg>",
        "x" * 20000,
    ],
)
def test_templates_that_could_run_or_fetch_are_refused(template):
    assert template_problems(template)


def test_templates_with_chromes_classes_and_data_urls_pass():
    assert (
        template_problems(
            '<div style="font-size:9px; width:100%; text-align:center">'
            '<img src="data:image/png;base64,iVBORw0KGgo=" height=8> <span class="title"></span> '
            '<span class=pageNumber></span> / <span class="totalPages"></span></div>'
            "<style>span { color: #333; background: url(data:image/gif;base64,R0lGOD==) }</style>"
        )
        == []
    )


def test_urls_are_each_a_url_and_at_most_the_limit():
    request = parse(url=[], urls=["http://a.example/", "http://b.example/"])
    assert [page.host for page in request.pages] == ["a.example", "b.example"]
    assert request.target.host == "a.example"
    assert "urls" in problems(urls=["http://a.example/"])  # with url
    assert "urls" in problems(url=[], urls=["http://a.example/", "ftp://b.example/"])
    assert "SNAPSHOT_MAX_PDF_URLS" in problems(url=[], urls=[f"http://{n}.example/" for n in "abcd"])["urls"]
    with pytest.raises(InvalidRequest):  # an option of /create_pdf only
        parse_capture_request({"urls": ["http://a.example/"], "width": ["10"], "height": ["10"]}, Settings())


def test_documents_are_merged_in_order_keeping_their_pages():
    merged = pdfs.merge([blank(2, 100, 100), blank(1, 200, 200), blank(3, 300, 300)], max_pages=6)
    reader = PdfReader(io.BytesIO(merged))
    assert [int(page.mediabox.width) for page in reader.pages] == [100, 100, 200, 300, 300, 300]
    with pytest.raises(OutputTooLarge):  # SNAPSHOT_MAX_PDF_PAGES counts the merged document
        pdfs.merge([blank(2), blank(1), blank(3)], max_pages=5)


@pytest.mark.skipif(pdfs.ghostscript() is None, reason="Debian's ghostscript: scripts/setup.sh installs it")
def test_pdfa_is_identified_has_an_output_intent_and_embeds_its_fonts():
    source = blank(1)
    out = pdfs.to_pdfa(source, timeout=30, max_bytes=10_000_000)
    reader = PdfReader(io.BytesIO(out))
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part=['\"]2['\"]", xmp) and re.search(r"pdfaid:conformance=['\"]B['\"]", xmp)
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
    with pytest.raises(Exception, match="bytes"):
        pdfs.to_pdfa(source, timeout=30, max_bytes=100)
