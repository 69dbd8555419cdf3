"""``block_cookie_banners``: DuckDuckGo's autoconsent (its maintained consent-popup rules, from the npm
package ``@duckduckgo/autoconsent``, fetched by ``scripts/setup.sh``) opts out of cookie banners.

Autoconsent's content script is injected into every frame of the page before the frame's own scripts
run: into the tab's frames with ``Page.addScriptToEvaluateOnNewDocument``, and into cross-site iframes
(their own targets) as they attach (``Target.setAutoAttach``, each one paused until it has the script).
The script talks to its "background" through a CDP binding; this module is that background: it answers
``init`` with the rules and the configuration (opt out, hide known popups at once), evaluates the
rules' ``eval`` snippets in the frame that asked, and follows each frame's reports to know when the
popups are dealt with.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BINDING = "__snapshotConsent"
SCRIPT = "autoconsent.playwright.js"
RULES = "compact-rules.json"
# the script reports its state on every change; these lifecycles are an end for its frame
_FINISHED = {"nothingDetected", "optOutSucceeded", "optOutFailed", "optInSucceeded", "optInFailed", "done"}
_BUSY = {"openPopupDetected", "runningOptOut", "runningOptIn"}
NOTHING_FOUND_AFTER = 1.0  # seconds after the load without any consent popup detected: none is coming
# the binding lives in the page's world, where the page can call it too: what one capture answers is bounded
MAX_INITS = 32  # frames given the rules (each answer carries the whole rules file)
MAX_MESSAGES = 1000  # messages handled in all
CONFIG = {
    "enabled": True,
    "autoAction": "optOut",
    "disabledCmps": [],
    "enablePrehide": True,
    "enableCosmeticRules": True,
    "enableGeneratedRules": True,
    "enableHeuristicDetection": True,
    "detectRetries": 20,
    "isMainWorld": False,
    "prehideTimeout": 2000,
    "logs": {k: False for k in ("lifecycle", "rulesteps", "detectionsteps", "evals", "errors", "messages", "waits")},
}


@dataclass(frozen=True)
class ConsentRules:
    """The content script (with its bridge to the binding) and the ``initResp`` message, built once."""

    source: str
    init: str  # JSON of the initResp message

    @classmethod
    def load(cls, directory: str) -> ConsentRules | None:
        """The rules in ``directory``; None when they are not there."""
        base = Path(directory)
        if not (base / SCRIPT).is_file() or not (base / RULES).is_file():
            return None
        bridge = (
            f"(() => {{ const send = window.{BINDING}; if (!send || window.autoconsentSendMessage) return;"
            " window.autoconsentSendMessage = (m) => { send(JSON.stringify(m)); return Promise.resolve(); }; })();\n"
        )
        rules = {"autoconsent": [], "compact": json.loads((base / RULES).read_text())}
        init = json.dumps({"type": "initResp", "config": CONFIG, "rules": rules}, separators=(",", ":"))
        return cls(bridge + (base / SCRIPT).read_text(), init)


def frame_setup(rules: ConsentRules) -> list[tuple[str, dict[str, Any]]]:
    """What a frame's session (the tab's, or a cross-site iframe's) needs before its document runs."""
    return [
        ("Page.enable", {}),
        ("Runtime.enable", {}),  # without it no binding calls are reported
        ("Runtime.addBinding", {"name": BINDING}),
        ("Page.addScriptToEvaluateOnNewDocument", {"source": rules.source}),
    ]


def _deliver(message: str) -> str:
    return f"window.autoconsentReceiveMessage && window.autoconsentReceiveMessage({message})"


@dataclass
class ConsentTracker:
    """One capture's conversation with the content scripts of its frames."""

    rules: ConsentRules
    frames: dict[str, str] = field(default_factory=dict)  # autoconsent instance -> its lifecycle
    main: str | None = None  # the main frame's instance
    detected: bool = False  # a consent popup or platform was seen in some frame
    prehiding: set[str] = field(default_factory=set)  # instances that still hide known popups
    inits: int = 0  # rules sent
    messages: int = 0  # messages handled

    def handle(self, payload: str, context: int) -> list[tuple[str, dict[str, Any]]]:
        """The commands (to the frame's session) that answer one message of a content script; nothing once
        the capture's bounds are reached (a page calling the binding in a loop gets no more answers)."""
        self.messages += 1
        if self.messages > MAX_MESSAGES or len(payload) > 65536:
            return []
        try:
            message = json.loads(payload)
        except ValueError:
            return []
        if not isinstance(message, dict):
            return []
        kind = message.get("type")
        if kind == "init":
            self.inits += 1
            if self.inits > MAX_INITS:
                return []
            return [("Runtime.evaluate", {"expression": _deliver(self.rules.init), "contextId": context})]
        if kind == "eval":  # a rule's snippet, run in the page's world of the frame that asked
            code = json.dumps(str(message.get("code", "")))
            answer = _deliver('{type: "evalResp", id: ' + json.dumps(str(message.get("id", ""))) + ", result: !!r}")
            reply = (
                f"(async () => {{ let r = false; try {{ r = await (0, eval)({code}); }} catch (e) {{}} {answer}; }})()"
            )
            return [("Runtime.evaluate", {"expression": reply, "contextId": context})]
        if kind in ("cmpDetected", "popupFound"):
            self.detected = True
        elif kind == "report" and isinstance(message.get("state"), dict):
            instance, state = str(message.get("instanceId")), message["state"]
            self.frames[instance] = str(state.get("lifecycle"))
            if message.get("mainFrame"):
                self.main = instance
            if state.get("prehideOn"):
                self.prehiding.add(instance)
            else:
                self.prehiding.discard(instance)
            if state.get("detectedCmps") or state.get("detectedPopups"):
                self.detected = True
        return []

    def finished(self, loaded_at: float) -> bool:
        """Whether the popups are dealt with: the main frame's script has finished and no frame is
        still opting out; or nothing was detected anywhere well after the load."""
        if any(state in _BUSY for state in self.frames.values()):
            return False
        if self.main is not None and self.frames.get(self.main) in _FINISHED and not self.prehiding:
            return True
        return not self.detected and time.monotonic() - loaded_at > NOTHING_FOUND_AFTER
