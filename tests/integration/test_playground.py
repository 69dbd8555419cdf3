"""The playground (``GET /``) and the API docs (``GET /docs``).  In-process: the form is generated from
the option model, the pages carry a strict CSP and static files cache headers, and the operator can
switch them off.  In a real browser (Selenium driving Chromium against the running service): a
capture from the form, an error beside its field, the copied curl command run for real, a signed
link, and the docs working offline with a "try it out" call that succeeds."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import time

import pytest
import requests
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support import LOOPBACK


@pytest.fixture
def chrome():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=DriverService("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def _capture(chrome, service, url: str, width: int, height: int) -> None:
    chrome.get(service.url + "/")
    for name, value in (("url", url), ("width", width), ("height", height)):
        field = chrome.find_element(By.ID, f"f-{name}")
        field.clear()
        field.send_keys(str(value))
    chrome.find_element(By.ID, "capture").click()
    WebDriverWait(chrome, 60).until(EC.text_to_be_present_in_element((By.ID, "status"), "Done"))


def _preview_pixels(chrome) -> Image.Image:
    data_url = chrome.execute_script(
        "const img = document.getElementById('preview'); const c = document.createElement('canvas');"
        "c.width = img.naturalWidth; c.height = img.naturalHeight; c.getContext('2d').drawImage(img, 0, 0);"
        "return c.toDataURL('image/png');"
    )
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")


integration = pytest.mark.integration


@integration
def test_a_capture_from_the_form_shows_the_picture_its_metadata_and_a_curl_that_works(chrome, local_service, pages,
                                                                                       tmp_path):  # fmt: skip
    _capture(chrome, local_service, pages.base + "/quadrants", 320, 200)
    preview = chrome.find_element(By.ID, "preview")
    assert preview.is_displayed()
    assert chrome.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", preview) == [
        320,
        200,
    ]
    metadata = chrome.find_element(By.ID, "metadata").text
    assert "image-width\n320" in metadata and "http-status\n200" in metadata
    phases = [row.text.split()[0] for row in chrome.find_elements(By.CSS_SELECTOR, "#timings tbody tr")]
    assert {"navigate", "screenshot"} <= set(phases)
    # the copied curl command, run for real, returns the same picture
    curl = chrome.find_element(By.ID, "curl").get_attribute("value")
    assert curl.startswith("curl -o snapshot.png ")
    subprocess.run(["bash", "-c", curl], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    downloaded = Image.open(tmp_path / "snapshot.png").convert("RGB")
    assert downloaded.size == (320, 200)
    assert downloaded.tobytes() == _preview_pixels(chrome).tobytes()


@integration
def test_a_link_that_prefills_a_hidden_option_opens_its_group(chrome, local_service):
    chrome.get(local_service.url + "/?url=https%3A%2F%2Fexample.com%2F&webhook_url=https%3A%2F%2Fhooks.example%2F")
    webhook = chrome.find_element(By.ID, "f-webhook_url")
    assert webhook.get_attribute("value") == "https://hooks.example/" and webhook.is_displayed()


@integration
def test_a_bad_url_shows_its_code_and_message_beside_the_field(chrome, local_service):
    chrome.get(local_service.url + "/")
    chrome.find_element(By.ID, "f-url").send_keys("http://")
    # the waits group is collapsed: an error in it opens it
    chrome.execute_script("document.getElementById('f-delay').value = '99999999'")
    chrome.find_element(By.ID, "capture").click()
    WebDriverWait(chrome, 30).until(EC.visibility_of_element_located((By.ID, "err-url")))
    assert chrome.find_element(By.ID, "err-url").text.startswith("invalid_url: ")
    assert chrome.find_element(By.ID, "f-url").get_attribute("aria-invalid") == "true"
    delay = chrome.find_element(By.ID, "err-delay")
    assert delay.is_displayed() and delay.text.startswith("invalid_options: ")
    assert "400" in chrome.find_element(By.ID, "summary").text


@integration
def test_with_api_keys_the_key_is_sent_and_the_signed_link_works_without_it(chrome, start, pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_API_KEYS": "playground-key"})
    chrome.get(service.url + "/")
    chrome.find_element(By.ID, "api-key").send_keys("playground-key")
    for name, value in (("url", pages.base + "/color/11aa55"), ("width", "64"), ("height", "48")):
        chrome.find_element(By.ID, f"f-{name}").clear()
        chrome.find_element(By.ID, f"f-{name}").send_keys(value)
    chrome.execute_script("document.getElementById('f-hide_selectors').closest('details').open = true")
    chrome.find_element(By.CSS_SELECTOR, "#f-hide_selectors").send_keys(".ad\n#banner")
    chrome.find_element(By.ID, "capture").click()
    WebDriverWait(chrome, 60).until(EC.text_to_be_present_in_element((By.ID, "status"), "Done"))
    signed = chrome.find_element(By.ID, "signed").get_attribute("value")
    assert "signature=" in signed and "hide_selectors=.ad" in signed
    assert requests.get(chrome.find_element(By.ID, "link").get_attribute("value"), timeout=30).status_code == 401
    answer = requests.get(signed, timeout=60)  # no key: the signature is the credential
    assert answer.status_code == 200 and Image.open(io.BytesIO(answer.content)).size == (64, 48)
    # the key stays in the tab: not in the page's URL or storage
    assert "playground-key" not in chrome.current_url
    assert chrome.execute_script("return localStorage.length + sessionStorage.length") == 0


@integration
def test_the_docs_load_from_the_service_alone_and_try_it_out_succeeds(chrome, local_service):
    chrome.get(local_service.url + "/docs")
    wait = WebDriverWait(chrome, 30)
    operation = "#operations-default-get_healthz"
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"{operation} .opblock-summary"))).click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"{operation} .try-out__btn"))).click()
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"{operation} .execute"))).click()
    status = (By.CSS_SELECTOR, f"{operation} .live-responses-table tbody .response-col_status")
    wait.until(EC.visibility_of_element_located(status))
    assert chrome.find_element(*status).text.strip() == "200"
    requested = [
        json.loads(entry["message"])["message"]["params"]["request"]["url"]
        for entry in chrome.get_log("performance")
        if json.loads(entry["message"])["message"]["method"] == "Network.requestWillBeSent"
    ]
    assert any(url.endswith("/openapi.json") for url in requested)
    assert any(url.endswith("/healthz") for url in requested)
    outside = [u for u in requested if not u.startswith(local_service.url) and not u.startswith(("data:", "blob:"))]
    assert outside == [], f"the docs reached outside the service: {outside}"
    errors = [e for e in chrome.get_log("browser") if "Content Security Policy" in e["message"]]
    assert errors == [], errors


@integration
def test_on_a_phone_with_the_keyboard_alone(chrome, local_service, pages):
    from selenium.webdriver.common.keys import Keys

    chrome.set_window_size(390, 844)
    chrome.get(local_service.url + "/")
    body = chrome.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(8):  # past the header's links and the endpoint choice
        if chrome.switch_to.active_element.get_attribute("id") == "f-url":
            break
        chrome.switch_to.active_element.send_keys(Keys.TAB)
    focused = chrome.switch_to.active_element
    assert focused.get_attribute("id") == "f-url"
    focused.send_keys(pages.base + "/color/ff8800", Keys.TAB)
    chrome.switch_to.active_element.send_keys(Keys.CONTROL, "a")
    chrome.switch_to.active_element.send_keys("300", Keys.TAB)
    assert chrome.switch_to.active_element.get_attribute("id") == "f-height"
    chrome.switch_to.active_element.send_keys(Keys.CONTROL, "a")
    chrome.switch_to.active_element.send_keys("500", Keys.ENTER)  # Enter submits the form
    WebDriverWait(chrome, 60).until(EC.text_to_be_present_in_element((By.ID, "status"), "Done"))
    assert _preview_pixels(chrome).size == (300, 500)
    assert chrome.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    preview = chrome.find_element(By.ID, "preview")
    assert preview.size["width"] <= 390


@integration
def test_a_markdown_body_as_content_and_what_a_page_said_from_the_form(chrome, local_service, pages):
    chrome.get(local_service.url + "/")
    chrome.find_element(By.CSS_SELECTOR, "input[name=_endpoint][value=content]").click()
    chrome.execute_script("document.getElementById('f-markdown').closest('details').open = true")
    # a document is sent whole: its lines are not a list
    chrome.find_element(By.ID, "f-markdown").send_keys("# From the form\n\nA paragraph.")
    chrome.execute_script("document.getElementById('f-format-content_format').closest('details').open = true")
    Select(chrome.find_element(By.ID, "f-format-content_format")).select_by_value("markdown")
    chrome.find_element(By.ID, "capture").click()
    WebDriverWait(chrome, 60).until(EC.text_to_be_present_in_element((By.ID, "status"), "Done"))
    shown = chrome.find_element(By.ID, "content").text
    assert shown.startswith("# From the form") and "A paragraph." in shown
    assert "format=markdown" in chrome.find_element(By.ID, "link").get_attribute("value")
    # a body too long for a link is posted, and answered the same
    chrome.execute_script("document.getElementById('f-markdown').value = '# Long\\n\\n' + 'word '.repeat(5000)")
    chrome.find_element(By.ID, "capture").click()
    WebDriverWait(chrome, 60).until(EC.text_to_be_present_in_element((By.ID, "content"), "# Long"))
    assert "--data " in chrome.find_element(By.ID, "curl").get_attribute("value")
    assert chrome.find_element(By.ID, "content").text.count("word") == 5000
    # an image with metadata: the page's console beside the picture
    pages.routes["/console"] = lambda q: "<body style='background:#0a0'><script>console.warn('look here')</script>"
    chrome.get(local_service.url + "/")
    for name, value in (("url", pages.base + "/console"), ("width", "64"), ("height", "48")):
        chrome.find_element(By.ID, f"f-{name}").clear()
        chrome.find_element(By.ID, f"f-{name}").send_keys(value)
    chrome.execute_script("document.getElementById('f-metadata').closest('details').open = true")
    chrome.find_element(By.ID, "f-metadata").click()
    chrome.find_element(By.ID, "capture").click()
    WebDriverWait(chrome, 60).until(EC.text_to_be_present_in_element((By.ID, "status"), "Done"))
    assert "warning: look here" in chrome.find_element(By.ID, "console").text
    WebDriverWait(chrome, 30).until(
        lambda c: c.execute_script("return document.getElementById('preview').naturalWidth")
    )
    assert _preview_pixels(chrome).getpixel((30, 30)) == (0, 170, 0)


@integration
def test_the_playground_lists_the_keys_monitors_with_their_last_capture_and_diff(chrome, start, pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_API_KEYS": "watcher,other",
                     "SNAPSHOT_MONITOR_MIN_INTERVAL": "1"})  # fmt: skip
    body = {"url": pages.base + "/color/11aa55", "width": 64, "height": 48, "every": 3600, "name": "green page"}
    made = requests.post(f"{service.url}/monitors", json=body, headers={"X-API-Key": "watcher"}, timeout=30).json()
    requests.post(f"{service.url}/monitors", json={**body, "name": "not yours"}, headers={"X-API-Key": "other"},
                  timeout=30)  # fmt: skip
    for _ in range(2):  # two runs: the second has a diff
        runs = requests.get(f"{service.url}/monitors/{made['id']}", headers={"X-API-Key": "watcher"}).json()["runs"]
        requests.post(f"{service.url}/monitors/{made['id']}/run", headers={"X-API-Key": "watcher"}, timeout=10)
        deadline = time.monotonic() + 30
        while (
            requests.get(f"{service.url}/monitors/{made['id']}", headers={"X-API-Key": "watcher"}).json()["runs"]
            <= runs
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    chrome.get(service.url + "/")
    chrome.find_element(By.ID, "api-key").send_keys("watcher")
    chrome.find_element(By.ID, "monitors-load").click()
    WebDriverWait(chrome, 20).until(EC.text_to_be_present_in_element((By.ID, "monitors-status"), "1 monitors"))
    [row] = chrome.find_elements(By.CSS_SELECTOR, "#monitors-table tbody tr")
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "green page" and cells[1] == "3600 s" and "(success)" in cells[2]
    assert cells[3].startswith("no, 0.00 %")
    thumbnails = row.find_elements(By.CSS_SELECTOR, "img.thumb")
    assert len(thumbnails) == 2
    sizes = [chrome.execute_script("return [arguments[0].complete, arguments[0].naturalWidth]", t) for t in thumbnails]
    assert sizes == [[True, 64], [True, 64]]  # the capture and its diff, loaded from their URLs
