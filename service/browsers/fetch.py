"""The capture's request interception (the Fetch domain, only when something needs it): a body's document
answered from here, the request rules and filter lists applied to each paused request, and the
credentials challenges answered - the filtering proxy's with the tenant's token, the target's with
``http_auth``, nobody else's."""

from __future__ import annotations

from typing import Any

from service.browsers.scope import CaptureScope, origin_of
from service.browsers.tab import Tab
from service.documents import CONTENT_HOST, CONTENT_URL


def _paused(url_pattern: str) -> dict[str, str]:
    return {"urlPattern": url_pattern, "requestStage": "Request"}


def on_paused(tab: Tab, scope: CaptureScope, source: str, method: str, params: dict[str, Any]) -> None:
    """A paused request or a credentials challenge of the tab or of an attached frame (``source``)."""
    if method == "Fetch.authRequired":
        tab.send("Fetch.continueWithAuth", _auth_answer(scope, params), source)
    elif scope.document is not None and _own_origin(params):
        tab.send(*_document_answer(tab, scope, source, params), source)
    elif scope.rules is None:  # paused only for credentials challenges
        tab.send("Fetch.continueRequest", {"requestId": params["requestId"]}, source)
    else:
        main_frame = source == tab.session and params.get("frameId") == tab.target
        main_document = main_frame and params.get("resourceType") == "Document"
        answer, answer_params, blocked = scope.rules.answer(
            params, _initiator(tab, scope, source, params), main_document
        )
        tab.send(answer, answer_params, source)
        if blocked is not None:
            scope.blocked[blocked] = scope.blocked.get(blocked, 0) + 1


def interception(scope: CaptureScope) -> dict[str, Any]:
    """Fetch.enable's parameters: every request with rules or a proxy token; else a body's own origin and
    with ``http_auth`` the target's (its challenges are answered; others' are never paused)."""
    auth = scope.reach is not None or scope.http_auth is not None
    if scope.reach is not None or scope.rules is not None:
        return {"patterns": [_paused("*")], "handleAuthRequests": auth}
    patterns = [_paused(f"http://{CONTENT_HOST}/*")] if scope.document is not None else []
    if scope.http_auth is not None:
        patterns.append(_paused(f"{scope.http_auth[2]}/*"))
    return {"patterns": patterns, "handleAuthRequests": auth}


def _own_origin(paused: dict[str, Any]) -> bool:
    return str(paused.get("request", {}).get("url", "")).startswith(CONTENT_URL)


def _document_answer(tab: Tab, scope: CaptureScope, source: str, paused: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A request to a body's own origin: the tab's document is the body; nothing else is there (and the
    name never resolves, so nothing reaches the network either)."""
    document = scope.document
    is_document = (
        source == tab.session
        and paused.get("frameId") == tab.target
        and paused.get("resourceType") == "Document"
        and paused["request"]["url"] == CONTENT_URL
        and paused["request"].get("method", "GET") == "GET"
    )
    if not is_document or document is None:
        return "Fetch.failRequest", {"requestId": paused["requestId"], "errorReason": "AddressUnreachable"}
    body, headers = document
    return "Fetch.fulfillRequest", {
        "requestId": paused["requestId"], "responseCode": 200, "responseHeaders": headers, "body": body,
    }  # fmt: skip


def _auth_answer(scope: CaptureScope, params: dict[str, Any]) -> dict[str, Any]:
    """The filtering proxy asks for the capture's token: given to it alone; a server asks for credentials:
    ``http_auth``'s, to the target's origin alone (any other challenge is cancelled, as without interception)."""
    challenge, reach, auth = params.get("authChallenge", {}), scope.reach, scope.http_auth
    if challenge.get("source") == "Proxy" and reach is not None:
        response = {"response": "ProvideCredentials", "username": reach.username, "password": reach.password}
    elif challenge.get("source") == "Server" and auth is not None and origin_of(challenge.get("origin", "")) == auth[2]:
        response = {"response": "ProvideCredentials", "username": auth[0], "password": auth[1]}
    else:
        response = {"response": "CancelAuth"}
    return {"requestId": params["requestId"], "authChallengeResponse": response}


def _initiator(tab: Tab, scope: CaptureScope, source: str, paused: dict[str, Any]) -> str | None:
    """The origin of the frame a paused request comes from; None when unknown or a cross-site frame's."""
    if source != tab.session:
        return None  # a cross-site iframe's own process
    frame = paused.get("frameId")
    if paused.get("resourceType") == "Document":
        if frame == tab.target:  # the tab's own navigation: the target, and where it redirects
            return scope.rules.target_url if scope.rules is not None else None
        frame = scope.frames.get(frame or "", ("", None))[1]  # a frame's document: its parent asks
    return scope.frames.get(frame or "", (None, None))[0]
