"""The maintenance loops' rules, in-process: which Grid sessions the orphan sweep ends.  The sweep
against a real Grid with a crashed replica's sessions: ``test_faults.py``."""

from __future__ import annotations

from service.browsers.chrome import INSTANCE_CAPABILITY
from service.browsers.grid import GridSession, find_orphans


def session(sid: str, owner: str | None, age: float) -> GridSession:
    return GridSession(sid, {INSTANCE_CAPABILITY: owner} if owner is not None else {}, age)


def orphans(sessions: list[GridSession], ours: frozenset[str] = frozenset()) -> list[str]:
    found = find_orphans(
        sessions, capability=INSTANCE_CAPABILITY, instance="me", ours=set(ours), own_grace=45, foreign_max_age=940
    )
    return [s.id for s in found]


def test_another_replicas_session_is_an_orphan_only_past_the_age_a_live_replica_never_reaches():
    assert orphans([session("young", "other", 939), session("old", "other", 941)]) == ["old"]


def test_our_own_session_the_pool_does_not_hold_is_ended_after_a_grace():
    sessions = [session("held", "me", 5000), session("lost-new", "me", 10), session("lost-old", "me", 50)]
    assert orphans(sessions, ours={"held"}) == ["lost-old"]


def test_sessions_of_other_grid_clients_are_never_touched():
    assert orphans([session("theirs", None, 10**6), session("blank", "", 10**6)]) == []
