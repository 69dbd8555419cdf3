// The Snapshot playground: builds a request from the form (generated from the option model on the
// server), sends it, and shows the picture, the metadata, the timings, the request as curl and links,
// and every error beside the field it concerns.  No build step, no dependencies.
"use strict";

const $ = (sel) => document.querySelector(sel);
const form = $("#capture-form");
const apiKeysOn = document.body.dataset.apiKeys === "true";
// errors without a `details` entry, shown beside the field they concern
const FIELD_OF = { blocked: "url", unreachable: "url", target_http_error: "url", missing_url: "url",
                   localmode_refused: "localmode", script_failed: "scripts" };

function endpoint() { return form.querySelector("input[name=_endpoint]:checked").value; }

function showEndpointFields() {
  const which = endpoint();
  for (const field of form.querySelectorAll(".field[data-endpoints]")) {
    const on = field.dataset.endpoints.split(" ").includes(which);
    field.hidden = !on;
    for (const control of field.querySelectorAll("input, select, textarea")) control.disabled = !on;
  }
}

// [name, value] pairs of everything that differs from its default, in form order
function pairs() {
  const out = [];
  const seen = new Set();
  for (const el of form.elements) {
    if (!el.name || el.name.startsWith("_") || el.disabled || el.id === "api-key") continue;
    if (el.type === "checkbox" && el.closest(".choices")) {
      if (el.checked) out.push([el.name, el.value]);
      continue;
    }
    if (seen.has(el.id)) continue;
    seen.add(el.id);
    const fallback = el.dataset.default ?? "";
    if (el.type === "checkbox") {
      const value = el.checked ? "true" : "false";
      if (value !== (fallback || "false")) out.push([el.name, value]);
    } else if (el.tagName === "TEXTAREA" && el.dataset.multiline) {
      if (el.value.trim()) out.push([el.name, el.value]);  // a document: sent whole
    } else if (el.tagName === "TEXTAREA") {
      for (const line of el.value.split("\n")) if (line.trim()) out.push([el.name, line.trim()]);
    } else if (el.value.trim() !== "" && el.value.trim() !== fallback) {
      out.push([el.name, el.value.trim()]);
    }
  }
  return out;
}

// Python's urlencode (quote_plus), which the service signs
function plus(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, "+");
}
const encode = (list) => list.map(([k, v]) => plus(k) + "=" + plus(v)).join("&");

// what the service checks (service/auth.py): GET, the path and the query sorted by name (a stable sort:
// repeated values keep their order), one per line
async function signed(list, key, path) {
  const expires = String(Math.floor(Date.now() / 1000) + 3600);
  const all = [...list, ["expires", expires]];
  const canonical = `GET\n${path}\n` + encode([...all].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  const raw = new TextEncoder();
  const hmac = await crypto.subtle.importKey("raw", raw.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, raw.encode(canonical)));
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  return encode([...all, ["signature", hex]]);
}

const LONGEST_URL = 16000;  // characters of a GET link; longer requests are posted
const quote = (text) => "'" + text.replace(/'/g, "'\\''") + "'";

function clearErrors() {
  for (const el of form.querySelectorAll(".error")) { el.hidden = true; el.textContent = ""; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("#summary").hidden = true;
}

function showError(body, status) {
  const code = body.error || "error";
  const summary = $("#summary");
  summary.textContent = `${status} ${code}: ${body.message || ""}`;
  summary.hidden = false;
  const details = body.details && body.details.length ? body.details
    : FIELD_OF[code] ? [{ parameter: FIELD_OF[code], message: body.message }] : [];
  let first = null;
  for (const { parameter, error, message } of details) {
    const field = visibleField(parameter);
    const slot = field ? field.querySelector(".error") : document.getElementById("err-" + parameter);
    if (!slot) continue;
    slot.textContent = `${error || code}: ${message}`;
    slot.hidden = false;
    const control = field ? field.querySelector("input, select, textarea, .choices")
      : document.getElementById("f-" + parameter);
    if (control) control.setAttribute("aria-invalid", "true");
    const group = slot.closest("details");
    if (group) group.open = true;
    first = first || control;
  }
  if (first && first.focus) first.focus();
}

// the field of an option as the chosen endpoint shows it (options of two endpoints may share a name)
function visibleField(parameter) {
  return [...form.querySelectorAll(".field[data-param]")].find((f) => f.dataset.param === parameter && !f.hidden);
}

function showHeaders(response) {
  const list = $("#metadata");
  list.replaceChildren();
  for (const [name, value] of response.headers) {
    if (!name.startsWith("x-snapshot-") && name !== "x-request-id" && name !== "age" && name !== "etag") continue;
    const dt = document.createElement("dt");
    dt.textContent = name.replace(/^x-snapshot-/, "");
    const dd = document.createElement("dd");
    dd.textContent = name === "x-snapshot-page-title" ? decodeURIComponent(value) : value;
    list.append(dt, dd);
  }
  const body = $("#timings tbody");
  body.replaceChildren();
  for (const part of (response.headers.get("server-timing") || "").split(",")) {
    const match = part.trim().match(/^([\w-]+);dur=([\d.]+)/);
    if (!match) continue;
    const row = body.insertRow();
    row.insertCell().textContent = match[1];
    row.insertCell().textContent = match[2];
  }
}

// what the page said (metadata=true): its console and its failed requests, as lists
function showSaid(body) {
  $("#said").hidden = !(body.console || body.failed_requests);
  for (const [id, entries, line] of [
    ["#console", body.console || [], (e) => `${e.level}: ${e.text}`],
    ["#failed", body.failed_requests || [], (e) => `${e.status || e.error} ${e.url}`],
  ]) {
    const list = $(id);
    list.replaceChildren();
    for (const entry of entries) {
      const item = document.createElement("li");
      item.textContent = line(entry);
      list.append(item);
    }
  }
}

async function capture(event) {
  event.preventDefault();
  clearErrors();
  const list = pairs();
  // metadata=true is JSON (with what the page said); the picture is then shown from its file_url
  const asked = (name) => list.some(([n]) => n === name);
  if (asked("metadata") && !asked("response_type")) list.push(["response_type", "json"]);
  const path = `/create_${endpoint()}`;
  const query = encode(list);
  const url = `${location.origin}${path}?${query}`;
  const key = $("#api-key").value;
  $("#link").value = url;
  const format = (visibleField("format") || document).querySelector("select") || {};
  const ext = endpoint() === "pdf" ? "pdf" : endpoint() === "content"
    ? ({ text: "txt", markdown: "md" }[format.value] || "html")
    : ({ jpeg: "jpg", webp: "webp" }[format.value] || "png");
  // a long body does not fit a URL (the server takes 64 KiB of request head): it is posted, answered alike
  const form_ = url.length > LONGEST_URL
    ? encode(asked("response_type") ? list : [...list, ["response_type", "image"]]) : null;
  const keyFlag = key ? "-H " + quote("X-API-Key: " + key) + " " : "";
  $("#curl").value = form_ === null ? `curl -o snapshot.${ext} ${keyFlag}${quote(url)}`
    : `curl -o snapshot.${ext} ${keyFlag}--data ${quote(form_)} ${quote(location.origin + path)}`;
  $("#signed-box").hidden = !(apiKeysOn && key && window.crypto && crypto.subtle);
  if (!$("#signed-box").hidden) $("#signed").value = `${location.origin}${path}?${await signed(list, key, path)}`;
  const button = $("#capture");
  button.disabled = true;
  $("#status").textContent = "Capturing…";
  try {
    const headers = key ? { "X-API-Key": key } : {};
    const response = form_ === null ? await fetch(url, { headers })
      : await fetch(location.origin + path, { method: "POST", body: new URLSearchParams(form_), headers });
    showHeaders(response);
    const type = response.headers.get("content-type") || "";
    $("#json").hidden = true;
    $("#content").hidden = true;
    $("#preview-box").hidden = true;
    $("#download").hidden = true;
    $("#said").hidden = true;
    if (!response.ok) {
      const body = type.includes("json") ? await response.json() : { error: "error", message: response.statusText };
      showError(body, response.status);
      if (body.evidence_url) {  // evidence=true: the page as it was when the capture failed
        $("#preview").src = body.evidence_url;
        $("#preview-caption").textContent = "The page when the capture failed (evidence)";
        $("#preview-box").hidden = false;
      }
      $("#status").textContent = `Failed: ${response.status} ${body.error}`;
      return;
    }
    if (type.startsWith("image/") || type === "application/pdf") {
      const blob = await response.blob();
      const objectUrl = URL.createObjectURL(blob);
      $("#download-link").href = objectUrl;
      $("#download-link").download = `snapshot.${ext}`;
      $("#download").hidden = false;
      if (type.startsWith("image/")) {
        const img = $("#preview");
        img.src = objectUrl;
        await img.decode().catch(() => {});
        $("#preview-caption").textContent = `${img.naturalWidth} × ${img.naturalHeight} px, ${blob.size} bytes`;
        $("#preview-box").hidden = false;
      }
    } else if (type.startsWith("text/")) {  // the page's content: shown as text, never as a page
      $("#content").textContent = await response.text();
      $("#content").hidden = false;
    } else if (response.status !== 204) {
      const body = await response.json();
      $("#json").textContent = JSON.stringify(body, null, 2);
      $("#json").hidden = false;
      showSaid(body);
      if (body.file_url && ["png", "jpeg", "webp"].includes(body.format)) {
        $("#preview").src = body.file_url;
        $("#preview-caption").textContent = `${body.image_width} × ${body.image_height} px, ${body.bytes} bytes`;
        $("#preview-box").hidden = false;
      }
    }
    $("#status").textContent = `Done: ${response.status}`;
  } catch (error) {
    $("#summary").textContent = `The request failed: ${error}`;
    $("#summary").hidden = false;
    $("#status").textContent = "Failed";
  } finally {
    button.disabled = false;
  }
}

// a link to the playground can carry parameters: /?url=...&width=...; a group with a prefilled option is
// opened, so that nothing a link sets (a webhook_url, headers_scope...) is sent without being seen
function prefill() {
  const query = new URLSearchParams(location.search);
  for (const [name, value] of query) {
    const control = document.getElementById("f-" + name);  // the image's format, of two
    if (!control) continue;
    const group = control.closest("details");
    if (group) group.open = true;
    if (control.type === "checkbox") control.checked = value === "true";
    else if (control.tagName === "TEXTAREA") control.value = query.getAll(name).join("\n");
    else control.value = value;
  }
}

// the caller's monitors, each with its last capture and its diff (text as text, pictures from their URLs)
function thumbnail(url, alt) {
  const cell = document.createElement("td");
  if (!url) return cell;
  const link = document.createElement("a");
  link.href = url;
  const img = document.createElement("img");
  img.src = url;
  img.alt = alt;
  img.className = "thumb";
  link.append(img);
  cell.append(link);
  return cell;
}

async function loadMonitors() {
  const key = $("#api-key").value;
  $("#monitors-status").textContent = "Loading…";
  try {
    const response = await fetch(`${location.origin}/monitors`, { headers: key ? { "X-API-Key": key } : {} });
    const body = await response.json();
    if (!response.ok) {
      $("#monitors-status").textContent = `Failed: ${response.status} ${body.error}: ${body.message}`;
      return;
    }
    const rows = $("#monitors-table tbody");
    rows.replaceChildren();
    for (const m of body.monitors) {
      const run = m.last_run || {};
      const row = document.createElement("tr");
      const texts = [m.name, `${m.every} s`, run.at ? `${run.at} (${run.outcome})` : "not yet",
        run.diff_ratio === undefined || run.diff_ratio === null ? "–"
          : `${run.changed ? "yes" : "no"}, ${(100 * run.diff_ratio).toFixed(2)} % of pixels`];
      for (const text of texts) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      row.append(thumbnail(run.file_url, `Last capture of ${m.name}`), thumbnail(run.diff_url, `Changes in ${m.name}`));
      rows.append(row);
    }
    $("#monitors-table").hidden = body.monitors.length === 0;
    $("#monitors-status").textContent = body.monitors.length ? `${body.monitors.length} monitors` : "No monitors yet.";
  } catch (error) {
    $("#monitors-status").textContent = `The request failed: ${error}`;
  }
}

$("#monitors-load").addEventListener("click", loadMonitors);
for (const radio of form.querySelectorAll("input[name=_endpoint]")) radio.addEventListener("change", showEndpointFields);
form.addEventListener("submit", capture);
prefill();
showEndpointFields();
