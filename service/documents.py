"""Bodies of the client's own (``html``, ``markdown``) as the documents the browser is given.

A body is never a ``file://``, ``data:`` or ``about:`` document: the browser navigates to
:data:`CONTENT_URL`, an ``http`` origin of the service's own under the reserved ``.invalid`` domain, and
the capture answers that one request itself from the DevTools connection (``Fetch.fulfillRequest``,
``service/browsers/steps.py``) on either backend.  Everything else the document asks for - images,
styles, frames, fetches, redirects and navigations - goes to the network like a page's requests:
through the filtering proxy, checked against the network policy at every connection.  Requests to the
document's own origin other than the document itself are failed, and the name never resolves.

Markdown is rendered with markdown-it-py (CommonMark, tables and strikethrough) with raw HTML off (it
is shown as text), links only of safe schemes, and the document is served with a CSP that allows no
script at all.
"""

from __future__ import annotations

import html as html_text
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from service.urls import TargetUrl

CONTENT_HOST = "content.snapshot.invalid"
CONTENT_URL = f"http://{CONTENT_HOST}/"
CONTENT_TARGET = TargetUrl(CONTENT_URL, "http", CONTENT_HOST, 80)

MARKDOWN_CSS = """
:root { color-scheme: light dark; }
body { margin: 0 auto; padding: 2rem; max-width: 48rem; line-height: 1.5;
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.5em 0 0.5em; }
h1 { font-size: 2em; border-bottom: 1px solid #ccc; padding-bottom: 0.3em; }
h2 { font-size: 1.5em; border-bottom: 1px solid #ddd; padding-bottom: 0.3em; }
pre, code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em; }
pre { padding: 1em; overflow: auto; background: rgba(127, 127, 127, 0.12); border-radius: 4px; }
code { background: rgba(127, 127, 127, 0.12); padding: 0.1em 0.3em; border-radius: 3px; }
pre code { background: none; padding: 0; }
blockquote { margin: 0; padding: 0 1em; border-left: 0.25em solid #ccc; color: #555; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.8em; }
img { max-width: 100%; }
"""
# markdown documents run nothing: no script of any kind, no plugins, no <base> of their own
MARKDOWN_CSP = "script-src 'none'; object-src 'none'; base-uri 'self' http: https:"
_DOCTYPE = re.compile(r"\A(\ufeff?\s*(?:<!--.*?-->\s*)*<!doctype[^>]*>)", re.IGNORECASE | re.DOTALL)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


@dataclass(frozen=True)
class Document:
    """A body to capture instead of a URL."""

    kind: str  # html or markdown
    source: str = ""  # never logged, never in metrics
    base_url: str | None = None  # the base of its relative URLs (checked by the network policy)

    def __repr__(self) -> str:  # a body may be an invoice: its text stays out of every log and traceback
        return f"Document({self.kind}, {len(self.source)} characters, base_url={self.base_url!r})"

    def served(self) -> tuple[bytes, list[dict[str, str]]]:
        """The bytes and the response headers the browser is given for :data:`CONTENT_URL`."""
        headers = [
            {"name": "Content-Type", "value": "text/html; charset=utf-8"},
            {"name": "Cache-Control", "value": "no-store"},
            {"name": "X-Content-Type-Options", "value": "nosniff"},
        ]
        if self.kind == "markdown":
            headers.append({"name": "Content-Security-Policy", "value": MARKDOWN_CSP})
            return markdown_document(self.source, self.base_url).encode(), headers
        return with_base(self.source, self.base_url).encode(), headers


def base_tag(base_url: str | None) -> str:
    return f'<base href="{html_text.escape(base_url, quote=True)}">' if base_url else ""


def with_base(source: str, base_url: str | None) -> str:
    """An HTML document with ``<base href>`` first in it (after its doctype, so that its mode is kept):
    the first base element with an href is the one browsers use."""
    tag = base_tag(base_url)
    if not tag:
        return source
    match = _DOCTYPE.match(source)
    if match is None:
        return tag + source
    return match.group(1) + tag + source[match.end() :]


def markdown_document(source: str, base_url: str | None = None) -> str:
    """Markdown as a whole HTML document with the default stylesheet."""
    title = next((line.lstrip("# ").strip() for line in source.splitlines() if line.startswith("# ")), "")
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"{base_tag(base_url)}<title>{html_text.escape(title)}</title><style>{MARKDOWN_CSS}</style></head>\n"
        f"<body>\n{_markdown.render(source)}</body></html>\n"
    )
