"""The autoconsent bridge's logic in-process (``service/browsers/consent.py``): what it answers and when
it counts the popups as dealt with.  Real popups on real Chromium: ``test_options.py``."""

from __future__ import annotations

import json
import time

from service.browsers.consent import ConsentRules, ConsentTracker

RULES = ConsentRules(source="/* script */", init='{"type": "initResp"}')


def report(instance: str, lifecycle: str, *, main: bool = True, prehide: bool = False, cmps: list[str] = ()) -> str:
    state = {"lifecycle": lifecycle, "prehideOn": prehide, "detectedCmps": list(cmps), "detectedPopups": []}
    return json.dumps({"type": "report", "instanceId": instance, "mainFrame": main, "state": state})


def test_init_gets_the_rules_and_evals_are_answered_in_the_frame_that_asked():
    tracker = ConsentTracker(RULES)
    [(method, params)] = tracker.handle(json.dumps({"type": "init", "url": "x"}), context=7)
    assert method == "Runtime.evaluate" and params["contextId"] == 7 and RULES.init in params["expression"]
    [(method, params)] = tracker.handle(json.dumps({"type": "eval", "id": "e1", "code": "1 + 1"}), context=9)
    assert params["contextId"] == 9 and '"1 + 1"' in params["expression"] and '"e1"' in params["expression"]
    assert tracker.handle("not json", 1) == [] and tracker.handle("[1]", 1) == []


def test_finished_when_the_main_frame_is_done_and_no_frame_is_still_opting_out():
    tracker = ConsentTracker(RULES)
    loaded = time.monotonic()
    tracker.handle(report("top", "cmpDetected", prehide=True, cmps=["x"]), 1)
    tracker.handle(report("frame", "runningOptOut", main=False), 2)
    assert not tracker.finished(loaded - 60)  # detected: no giving up after a while
    tracker.handle(report("top", "done"), 1)
    assert not tracker.finished(loaded)  # the frame still opts out
    tracker.handle(report("frame", "optOutSucceeded", main=False), 2)
    assert tracker.finished(loaded)


def test_with_nothing_detected_it_stops_waiting_a_second_after_the_load():
    tracker = ConsentTracker(RULES)
    tracker.handle(report("top", "started", prehide=True), 1)
    assert not tracker.finished(time.monotonic())
    assert tracker.finished(time.monotonic() - 1.5)


def test_a_page_calling_the_binding_in_a_loop_gets_bounded_answers():
    """The binding lives in the page's world: the page itself can call it, as often as it likes."""
    from service.browsers.consent import MAX_INITS, MAX_MESSAGES

    tracker = ConsentTracker(RULES)
    init = json.dumps({"type": "init", "url": "x"})
    answered = [tracker.handle(init, context=1) for _ in range(MAX_INITS * 3)]
    assert sum(1 for a in answered if a) == MAX_INITS  # the rules file is sent at most that often
    evals = [tracker.handle(json.dumps({"type": "eval", "id": "e", "code": "1"}), 1) for _ in range(MAX_MESSAGES)]
    assert sum(1 for a in evals if a) == MAX_MESSAGES - MAX_INITS * 3
    assert tracker.handle(json.dumps({"type": "eval", "id": "e", "code": "1"}), 1) == []
