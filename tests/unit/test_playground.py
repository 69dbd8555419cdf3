"""The playground (``GET /``) and the API docs (``GET /docs``).  In-process: the form is generated from
the option model, the pages carry a strict CSP and static files cache headers, and the operator can
switch them off.  In a real browser (Selenium driving Chromium against the running service): a
capture from the form, an error beside its field, the copied curl command run for real, a signed
link, and the docs working offline with a "try it out" call that succeeds."""

from __future__ import annotations

from html.parser import HTMLParser

from service.options import FIELDS, param


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.scripts: list[dict[str, str | None]] = []
        self.ids: set[str] = set()  # controls that need a <label for>
        self.labelled: set[str] = set()
        self._in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self._in_label += 1
            if found.get("for"):
                self.labelled.add(found["for"] or "")
        if tag in ("input", "select", "textarea") and not self._in_label and found.get("id"):
            self.ids.add(found["id"] or "")
        if tag in ("input", "select", "textarea") and found.get("name") and not found["name"].startswith("_"):
            self.names.add(found["name"])
        if tag in ("script", "link"):
            self.scripts.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1


def test_the_form_has_a_control_for_every_parameter_of_the_model(app):
    service = app()
    page = service.fetch("/")
    assert page.code == 200 and page.headers["Content-Type"].startswith("text/html")
    controls = _Controls()
    controls.feed(page.body.decode())
    assert controls.names == {"url", "width", "height", "localmode"} | {param(f) for f in FIELDS}
    assert controls.ids <= controls.labelled, f"controls without a label: {controls.ids - controls.labelled}"
    # every script and style is the service's own
    sources = [s.get("src") or s.get("href") for s in controls.scripts]
    assert sources and all(src.startswith("/") for src in sources if src)


def test_the_pages_have_a_strict_csp_and_static_files_cache_headers(app):
    service = app()
    for path in ("/", "/docs"):
        csp = service.fetch(path).headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in service.fetch("/").headers["Content-Security-Policy"]
    script = service.fetch("/static/playground.js", params={"v": "1"})
    assert script.code == 200 and script.headers["Cache-Control"] == "public, max-age=31536000"
    bundle = service.fetch("/docs/static/swagger-ui-bundle.js")
    assert bundle.code == 200 and bundle.headers["Cache-Control"] == "public, max-age=86400"
    assert service.fetch("/static/../config.py").code == 404
    assert "default-src 'none'" in bundle.headers["Content-Security-Policy"]
    # only what /docs uses: Swagger UI's own pages (no CSP of ours) and source maps are not served
    for path in ("index.html", "oauth2-redirect.html", "swagger-ui-bundle.js.map", "swagger-initializer.js"):
        assert service.fetch(f"/docs/static/{path}").code == 404, path


def test_the_operator_can_switch_both_pages_off(app):
    service = app(playground=False)
    for path in ("/", "/docs", "/static/playground.js", "/docs/static/swagger-ui-bundle.js"):
        assert service.fetch(path).code == 404


def test_the_published_parameters_and_their_limits_follow_the_model_and_the_settings(app):
    """One source: ``params.PUBLISHED_PARAMS`` with this service's limits makes the form and the OpenAPI
    document alike."""
    import json

    from service.params import PUBLISHED_PARAMS

    service = app(max_width=2000, max_height=1500, max_url_length=500)
    page = service.fetch("/").body.decode()
    for p in PUBLISHED_PARAMS:
        assert f'id="f-{p.name}"' in page and f">{p.label}</label>" in page
    assert 'id="f-width" name="width" aria-describedby="err-width" type="number" min="1" max="2000"' in page
    assert 'maxlength="500"' in page
    spec = json.loads(service.fetch("/openapi.json").body)
    documented = {p["name"]: p for p in spec["paths"]["/create_snap"]["get"]["parameters"]}
    assert documented["width"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 2000}
    assert documented["height"]["schema"]["maximum"] == 1500 and documented["url"]["schema"]["maxLength"] == 500
    assert [name for name in documented if name in {p.name for p in PUBLISHED_PARAMS}] == [
        p.name for p in PUBLISHED_PARAMS
    ]
