"""``Page``'s use of the isolated world made as the page committed (``Tab.isolated_world``),
with a small fake of the session: the logic alone, the real browser path is in test_grid.py."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from service.browsers.cdp import CdpError
from service.browsers.page import Page
from service.browsers.tab import Tab


class FakeSession:
    """Hands out the worlds it is given; evaluating in a world listed as gone fails as Chrome does."""

    def __init__(self, worlds: list[tuple[int, bool]], gone: set[int]) -> None:
        self.worlds = iter(worlds)
        self.gone = gone
        self.evaluated_in: list[int] = []

    def isolated_world(self, deadline: float, interrupted: object = None) -> tuple[int, bool]:
        return next(self.worlds)

    def command(self, method: str, params: dict[str, Any], deadline: float, **_: object) -> dict[str, Any]:
        self.evaluated_in.append(params["contextId"])
        if params["contextId"] in self.gone:
            raise CdpError(method, -32000, "Cannot find context with specified id")
        return {"result": {"value": 42}}


def page_of(session: FakeSession) -> Page:
    return Page(cast(Tab, session), time.monotonic() + 5)


def test_a_prepared_world_whose_document_went_is_replaced_once():
    session = FakeSession([(1, True), (2, False)], gone={1})
    page = page_of(session)
    assert page.call("() => 42") == 42
    assert session.evaluated_in == [1, 2] and page.context == 2
    assert page.call("() => 42") == 42 and session.evaluated_in == [1, 2, 2]  # the new one is kept


def test_a_world_made_now_that_fails_is_an_error():
    session = FakeSession([(3, False)], gone={3})
    with pytest.raises(CdpError):
        page_of(session).call("() => 42")
    assert session.evaluated_in == [3]
