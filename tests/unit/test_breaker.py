"""The Grid's circuit breaker as a unit (a clock of its own); end to end: ``test_faults.py``."""

from __future__ import annotations

from service.browsers.breaker import Circuit, CircuitBreaker


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_the_threshold_half_opens_after_the_cooldown_and_closes_on_success():
    clock, changes = Clock(), []
    breaker = CircuitBreaker(3, 30.0, changes.append, clock)
    for _ in range(2):
        assert breaker.use_grid()
        breaker.failure()
    assert breaker.state is Circuit.CLOSED  # two failures: not yet
    breaker.success()
    for _ in range(3):
        breaker.failure()
    assert breaker.state is Circuit.OPEN and not breaker.use_grid()
    clock.now = 29.9
    assert not breaker.use_grid()
    clock.now = 30.0
    assert breaker.use_grid()  # the one probe
    assert breaker.state is Circuit.HALF_OPEN
    assert not breaker.use_grid()  # everyone else stays on the fallback meanwhile
    breaker.success()
    assert breaker.state is Circuit.CLOSED and breaker.use_grid()
    assert changes == [Circuit.OPEN, Circuit.HALF_OPEN, Circuit.CLOSED]


def test_a_failed_probe_opens_it_again_for_a_whole_cooldown():
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock=clock)
    breaker.failure()
    clock.now = 10.0
    assert breaker.use_grid()
    breaker.failure()
    assert breaker.state is Circuit.OPEN
    clock.now = 19.9
    assert not breaker.use_grid()
    clock.now = 20.0
    assert breaker.use_grid()
