"""``/create_pdf``'s options against real pages in real browsers, every PDF read back (pypdf): its text,
page count, page boxes, outline, structure tree, PDF/A identification - never only a status code."""

from __future__ import annotations

import io
import re

import pytest
import requests
from pypdf import PdfReader

pytestmark = pytest.mark.integration

LONG = """<!doctype html><html><head><title>Report</title><style>
body { font: 16px sans-serif; margin: 0 } section { height: 1100px; border-top: 4px solid #036 }
</style></head><body>
<h1>Quarterly report</h1><section><h2>Revenue</h2><p>alpha text</p></section>
<section><h2>Costs</h2><p>beta text</p></section><section><h2>Outlook</h2><p>gamma text</p></section>
<section><h2>Appendix</h2><p>delta text</p></section></body></html>"""
CSS_SIZE = "<!doctype html><style>@page { size: 100mm 100mm; margin: 0 }</style><p>css sized</p>"


@pytest.fixture
def pdf_pages(pages):
    pages.routes["/long"] = lambda q: LONG
    pages.routes["/css-size"] = lambda q: CSS_SIZE
    for name, color in (("a", "#f00"), ("b", "#0f0"), ("c", "#00f")):
        pages.routes[f"/part-{name}"] = lambda q, name=name, color=color: (
            f"<!doctype html><body style='background:{color}'><h1>Part {name.upper()}</h1></body>"
        )
    yield pages
    for path in ("/long", "/css-size", "/part-a", "/part-b", "/part-c"):
        pages.routes.pop(path)


def pdf(service, **fields) -> PdfReader:
    answer = requests.post(f"{service.url}/create_pdf", json={"response_type": "image", **fields}, timeout=90)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/pdf"
    return PdfReader(io.BytesIO(answer.content))


def error(service, **fields) -> dict:
    answer = requests.post(f"{service.url}/create_pdf", json={"response_type": "image", **fields}, timeout=90)
    assert answer.status_code >= 400, answer.text
    return {**answer.json(), "status": answer.status_code}


def texts(reader: PdfReader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


def test_headers_and_footers_number_the_pages_and_run_nothing(local_service, pdf_pages):
    footer = ("<div style='font-size:10px; width:100%; text-align:center'>Page <span class=pageNumber></span> of "
              "<span class=totalPages></span> - <span class=title></span></div>")  # fmt: skip
    header = "<div style='font-size:10px; margin-left:1cm'>CONFIDENTIAL</div>"
    reader = pdf(local_service, url=pdf_pages.base + "/long", pdf_footer_template=footer, pdf_header_template=header,
                 pdf_margin_top="2cm", pdf_margin_bottom="2cm")  # fmt: skip
    pages = texts(reader)
    assert len(pages) >= 4
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)} - Report" in text and "CONFIDENTIAL" in text
    hostile = f"<img src='{pdf_pages.base}/tracker.png'><script>fetch('/x')</script>"
    refused = error(local_service, url=pdf_pages.base + "/long", pdf_header_template=hostile)
    assert refused["status"] == 400 and {d["parameter"] for d in refused["details"]} == {"pdf_header_template"}


def test_page_ranges_scale_paper_margins_and_css_size(local_service, pdf_pages):
    url = pdf_pages.base + "/long"
    whole = pdf(local_service, url=url)
    assert len(whole.pages) >= 5
    ranged = texts(pdf(local_service, url=url, pdf_page_ranges="1-2,4"))
    assert len(ranged) == 3 and "alpha text" in ranged[0] + ranged[1]
    past = error(local_service, url=url, pdf_page_ranges="40-41")
    assert past["status"] == 400 and past["details"][0]["parameter"] == "pdf_page_ranges"
    assert len(pdf(local_service, url=url, pdf_scale=0.5).pages) < len(whole.pages)
    paper = pdf(local_service, url=url, pdf_paper_width="100mm", pdf_paper_height="150mm").pages[0].mediabox
    assert float(paper.width) == pytest.approx(283.5, abs=2) and float(paper.height) == pytest.approx(425.2, abs=2)
    landscape = pdf(local_service, url=url, pdf_paper_format="a5", pdf_landscape=True).pages[0].mediabox
    assert float(landscape.width) > float(landscape.height)
    css = pdf(local_service, url=pdf_pages.base + "/css-size", pdf_prefer_css_page_size=True).pages[0].mediabox
    assert float(css.width) == pytest.approx(283.5, abs=2) and float(css.height) == pytest.approx(283.5, abs=2)
    single = pdf(local_service, url=url, pdf_single_page=True)
    assert len(single.pages) == 1 and "delta text" in single.pages[0].extract_text()
    assert float(single.pages[0].mediabox.height) > 3 * 842  # taller than three A4 sheets

    def first_line_top(reader: PdfReader) -> float:
        found: list[float] = []

        def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
            if text.strip():  # where the text is on the page: its matrix in the page's current one
                found.append(tm[4] * cm[1] + tm[5] * cm[3] + cm[5])

        reader.pages[0].extract_text(visitor_text=visit)
        return max(found)

    # a top margin of 2 inches puts the first line 1.5 inches (108 points) lower than one of half an inch
    low = first_line_top(pdf(local_service, url=url, pdf_margin_top="2in"))
    high = first_line_top(pdf(local_service, url=url, pdf_margin_top="0.5in"))
    assert high - low == pytest.approx(108, abs=3)


def test_an_outline_and_a_structure_tree_from_the_headings(local_service, pdf_pages):
    reader = pdf(local_service, url=pdf_pages.base + "/long", pdf_outline=True)
    titles = [item.title for item in reader.outline if not isinstance(item, list)]
    nested = [child.title for item in reader.outline if isinstance(item, list) for child in item]
    assert "Quarterly report" in titles and {"Revenue", "Costs", "Outlook", "Appendix"} <= set(titles + nested)
    tagged = pdf(local_service, url=pdf_pages.base + "/long", pdf_tagged=True).trailer["/Root"]
    assert "/StructTreeRoot" in tagged and tagged["/MarkInfo"]["/Marked"]
    plain = pdf(local_service, url=pdf_pages.base + "/long").trailer["/Root"]
    assert "/StructTreeRoot" not in plain and not plain.get("/Outlines")


def test_pdfa_is_identified_with_an_output_intent_and_embedded_fonts(local_service, pdf_pages):
    reader = pdf(local_service, url=pdf_pages.base + "/long", pdf_pdfa=True)
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part=['\"]2['\"]", xmp) and re.search(r"pdfaid:conformance=['\"]B['\"]", xmp)
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    fonts = [font.get_object() for page in reader.pages
             for font in (page["/Resources"].get("/Font") or {}).values()]  # fmt: skip
    assert fonts
    for font in fonts:
        descriptor = font.get("/FontDescriptor") or font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor.get_object())  # embedded
    assert "alpha text" in texts(reader)[0]


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_several_pages_in_one_document_in_order(start, grid, pdf_pages, backend):
    env = {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_POOL_SIZE": "1", "SNAPSHOT_LOCAL_POOL_SIZE": "1",
           "SNAPSHOT_MAX_PDF_URLS": "5", "SNAPSHOT_MAX_PDF_PAGES": "4"}  # fmt: skip
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    urls = [pdf_pages.base + f"/part-{name}" for name in "cab"]
    footer = "<div style='font-size:10px'>p<span class=pageNumber></span>/<span class=totalPages></span></div>"
    merged = texts(pdf(service, urls=urls, pdf_footer_template=footer, pdf_margin_bottom="1cm"))
    assert len(merged) == 3
    assert ["Part C" in merged[0], "Part A" in merged[1], "Part B" in merged[2]] == [True, True, True]
    assert all("p1/1" in text for text in merged)  # each document numbers its own pages
    blocked = error(service, urls=[urls[0], "http://127.0.0.2:9/private"])
    assert blocked["status"] == 403 and blocked["error"] == "blocked"
    assert error(service, urls=urls * 2)["status"] == 400  # more than SNAPSHOT_MAX_PDF_URLS
    too_long = error(service, urls=urls + urls[:2])  # five documents of one page each: more than 4 merged
    assert too_long["status"] == 400 and too_long["error"] == "output_too_large"
