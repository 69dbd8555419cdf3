"""The capture package: the blocking, worker-thread world behind the capture use case.

One concern per module:

- ``chrome``: Chromium's flags and the WebDriver options a session is asked with;
- ``cdp``: a small blocking Chrome DevTools Protocol client;
- ``session``: one browser session (what lives as long as the WebDriver session) and the sequence of a
  capture in it;
- ``tab``: the tab captures run in (its lifetime: event counters, commands, waits, screenshots);
- ``scope``: what one capture sets up and sees (its lifetime: dropped whole by the reset);
- ``steps``, ``page``, ``shots``, ``network``, ``consent``: what a capture's options do, on a tab and a scope;
- ``isolation``: what keeps one capture from seeing another (``reset``, ``context``);
- ``factories``: opening sessions on the Grid or with a ChromeDriver started here;
- ``grid``: the Selenium Grid's HTTP API (capacity, probes, sessions, the orphan rule);
- ``pool``: warm sessions shared by a backend's workers;
- ``backend``: a bounded worker pool with admission control, and the retry on a dead session.

Nothing here imports tornado; the IOLoop reaches this world only through ``CaptureBackend.capture``.
"""
