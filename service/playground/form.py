"""The playground's form, generated from the option model (``service/options.py``) that parses requests,
so a new option appears in it by itself and none can drift: one control per parameter, grouped as the
model groups them, with its label, help text, limits and an error slot beside it."""

from __future__ import annotations

import dataclasses
from html import escape
from typing import Any

from service.config import Settings
from service.devices import load_devices
from service.options import FIELDS, Group, kind, param
from service.params import PUBLISHED_PARAMS, Published


def _published_control(p: Published, settings: Settings) -> str:
    """A published parameter's control (first and always shown), its limit this service's."""
    common = f'id="f-{p.name}" name="{p.name}" aria-describedby="err-{p.name}"'
    if p.type is bool:
        return f'<input {common} type="checkbox" value="true">'
    limit = getattr(settings, p.limit) if p.limit is not None else None
    if p.type is int:
        bound = f' max="{limit}"' if limit is not None else ""
        return f'<input {common} type="number" min="1"{bound} value="{_attr(p.example)}" inputmode="numeric">'
    bound = f' maxlength="{limit}"' if limit is not None else ""
    return f'<input {common} type="url" required placeholder="https://example.com" autocomplete="url"{bound}>'


def _attr(value: Any) -> str:
    return escape(str(value), quote=True)


def _ident(f: dataclasses.Field[Any]) -> str:
    """The control's id: ``f-<parameter>``; an option of another endpoint with the same parameter name (the
    content's ``format``) is told apart by its field's name."""
    first = next(other for other in FIELDS if param(other) == param(f))
    return f"{param(f)}" if first is f else f"{param(f)}-{f.name}"


def _control(f: dataclasses.Field[Any]) -> str:
    name, meta, k = param(f), f.metadata, kind(f)
    ident = f"f-{_ident(f)}"
    described = f'aria-describedby="help-{_ident(f)} err-{_ident(f)}"'
    common = f'id="{ident}" name="{name}" data-default="{_attr(_default(f))}" {described}'
    if k == "bool":
        checked = " checked" if f.default else ""
        return f'<input {common} type="checkbox" value="true"{checked}>'
    if k == "list" and meta["choices"]:
        boxes = "".join(
            f'<label class="choice"><input type="checkbox" name="{name}" value="{_attr(c)}"> {escape(c)}</label>'
            for c in meta["choices"]
        )
        return f'<div id="{ident}" class="choices" role="group" {described}>{boxes}</div>'
    if k == "list":
        return f'<textarea {common} rows="2" placeholder="one per line"></textarea>'
    if meta["multiline"]:  # a document, sent whole
        return f'<textarea {common} rows="6" data-multiline="true" spellcheck="false"></textarea>'
    if meta["choices"]:
        empty = "" if f.default is not None else '<option value="">(default)</option>'
        options = "".join(
            f'<option value="{_attr(c)}"{" selected" if c == f.default else ""}>{escape(c)}</option>'
            for c in meta["choices"]
        )
        return f"<select {common}>{empty}{options}</select>"
    if k == "float":
        value = "" if f.default is None else f' value="{f.default}"'
        return f'<input {common} type="number" step="any" inputmode="decimal"{value}>'
    if k == "int":
        limits = "".join(
            f' {attr}="{meta[key]}"' for attr, key in (("min", "minimum"), ("max", "maximum")) if meta[key] is not None
        )
        value = "" if f.default is None else f' value="{f.default}"'
        return f'<input {common} type="number" inputmode="numeric"{limits}{value}>'
    value = "" if f.default in (None, "") else f' value="{_attr(f.default)}"'
    suggested = f' list="suggest-{meta["suggestions"]}" autocomplete="off"' if meta["suggestions"] else ""
    return f'<input {common} type="text"{value}{suggested}>'


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is None or f.default == ():
        return ""
    return str(f.default).lower() if isinstance(f.default, bool) else str(f.default)


def _field(f: dataclasses.Field[Any]) -> str:
    name, meta, ident = param(f), f.metadata, _ident(f)
    unit = f" ({escape(meta['unit'])})" if meta["unit"] else ""
    endpoints = " ".join(e.value for e in meta["endpoints"])
    label = f'<label for="f-{ident}">{escape(name)}{unit}</label>'
    if kind(f) == "list" and meta["choices"]:
        label = f'<span class="label" id="label-{ident}">{escape(name)}</span>'
    return (
        f'<div class="field" data-endpoints="{endpoints}" data-param="{name}">{label}{_control(f)}'
        f'<small id="help-{ident}" class="help">{escape(meta["help"])}</small>'
        f'<p id="err-{ident}" class="error" role="alert" hidden></p></div>'
    )


def form_html(settings: Settings) -> str:
    """Every parameter's control, grouped; the published ones first."""
    published = "".join(
        f'<div class="field"><label for="f-{p.name}">{escape(p.label)}</label>{_published_control(p, settings)}'
        f'<p id="err-{p.name}" class="error" role="alert" hidden></p></div>'
        for p in PUBLISHED_PARAMS
    )
    parts = [f'<fieldset class="published"><legend>Page</legend>{published}</fieldset>']
    for group in Group:
        fields = [f for f in FIELDS if f.metadata["group"] is group]
        if fields:
            body = "".join(_field(f) for f in fields)
            title = escape(group.value)
            parts.append(
                f'<details class="group"><summary>{title}</summary><fieldset>'
                f'<legend class="visually-hidden">{title}</legend>{body}</fieldset></details>'
            )
    names = sorted(load_devices(settings.devices_file).by_name)  # the device option's suggestions
    options = "".join(f'<option value="{_attr(name)}">' for name in names)
    parts.append(f'<datalist id="suggest-devices">{options}</datalist>')
    return "".join(parts)
