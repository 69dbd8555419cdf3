"""Chromium's command line and the WebDriver options a session is asked for (Grid and local)."""

from __future__ import annotations

from selenium import webdriver

from service.config import Settings

_DISABLED_FEATURES = (
    # A screenshot service never goes back, and each reset navigates the tab to about:blank: with the
    # back/forward cache and proactive BrowsingInstance swaps on, every such navigation keeps the old
    # page alive (frozen, in the cache) and the next capture starts a new renderer process.  Off, a
    # reset costs less than half as much, and the last page is really gone (docs/benchmarks.md).
    "BackForwardCache",
    "ProactivelySwapBrowsingInstance",
    "RenderDocument",
    # requests of the browser's own (issue 24: a browser that phones nobody)
    "NetworkTimeServiceQuerying",
    "OptimizationHints",
    "OptimizationHintsFetching",
    "OptimizationGuideModelDownloading",
    "OptimizationTargetPrediction",
    "AutofillServerCommunication",
    "MediaRouter",
    "DialMediaRouteProvider",
    "Translate",
    "CertificateTransparencyComponentUpdater",
    "InterestFeedContentSuggestions",
    "PrivacySandboxSettings4",
)

CHROME_ARGS = (
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--metrics-recording-only",
    # The rest of the list: what Chromium fetches by itself (network time, optimization hints and models,
    # autofill and translation servers, media routing, certificate-transparency and privacy-sandbox
    # updates).  Only the last --disable-features on a command line counts: keep them all here.
    "--disable-features=" + ",".join(_DISABLED_FEATURES),
    # Browser sign-in lists the accounts of the profile (accounts.google.com) and the component updater
    # asks for on-demand components (update.googleapis.com) whatever the flags above say: both are
    # pointed at a reserved name on a port Chromium refuses to use (ERR_UNSAFE_PORT), so neither even
    # opens a connection (tests/integration/test_egress.py counts what reaches the proxy).
    "--gaia-url=http://gaia.invalid:1",
    "--component-updater=url-source=http://update.invalid:1",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-component-extensions-with-background-pages",
    # An off-the-record profile keeps cookies, storage and the HTTP cache in memory: nothing a page
    # stored reaches the disk, and emptying them after each capture costs less CPU.
    "--incognito",
)

# marks a Grid session as this replica's, so orphans of crashed replicas can be found (/graphql)
INSTANCE_CAPABILITY = "snapshot:instance"


def chrome_options(
    settings: Settings, *, local: bool, instance: str = "", proxy_url: str | None = None
) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    if not settings.chrome_sandbox:
        # the sandbox needs user namespaces, which container runtimes' default seccomp profiles refuse
        # (Chromium then does not start); SNAPSHOT_CHROME_SANDBOX turns it on where the pod allows them
        options.add_argument("--no-sandbox")
    if proxy_url:
        # every connection through the filtering proxy: loopback too ("<-loopback>"), no QUIC (UDP
        # bypasses HTTP proxies), no WebRTC UDP outside the proxy, no DNS prefetching
        options.add_argument(f"--proxy-server={proxy_url}")
        options.add_argument("--proxy-bypass-list=<-loopback>")
        options.add_argument("--disable-quic")
        options.add_argument("--dns-prefetch-disable")
        options.add_argument("--force-webrtc-ip-handling-policy=disable_non_proxied_udp")
        options.add_experimental_option("prefs", {"webrtc.ip_handling_policy": "disable_non_proxied_udp"})
    # ChromeDriver turns Chrome's popup blocker off; keep it on: pages cannot open windows unprompted
    options.add_experimental_option("excludeSwitches", ["disable-popup-blocking"])
    options.set_capability("unhandledPromptBehavior", {"default": "dismiss"})
    options.page_load_strategy = "normal"
    if local:
        options.binary_location = settings.chromium_path
    else:
        options.platform_name = settings.platform_name
        options.set_capability(INSTANCE_CAPABILITY, instance)
        if settings.browser_version:
            options.browser_version = settings.browser_version
    return options
