"""The upstream proxy's settings and which hosts bypass it."""

from __future__ import annotations

import ipaddress

import pytest

from service.config import Settings, SettingsError
from service.upstream import NoProxy, Upstream


def test_the_upstream_url_and_no_proxy_list_are_checked_at_start():
    settings = Settings.from_env({"SNAPSHOT_UPSTREAM_PROXY": "http://u%40corp:p%3Aw@proxy.corp:8080",
                                  "SNAPSHOT_UPSTREAM_NO_PROXY": ".svc, cluster.local,10.0.0.0/8"})  # fmt: skip
    upstream = Upstream.of(settings.upstream_proxy, settings.upstream_no_proxy)
    assert (upstream.host, upstream.port) == ("proxy.corp", 8080)
    assert upstream.authorization == "Basic dUBjb3JwOnA6dw=="  # u@corp:p:w
    assert "secret" not in repr(settings) and "proxy.corp" not in repr(settings)  # it may hold credentials
    for bad in ("https://proxy:443", "proxy:3128", "http://proxy", "http://proxy:3128/path"):
        with pytest.raises(SettingsError, match="SNAPSHOT_UPSTREAM_PROXY"):
            Settings.from_env({"SNAPSHOT_UPSTREAM_PROXY": bad})
    with pytest.raises(SettingsError, match="SNAPSHOT_UPSTREAM_NO_PROXY"):
        Settings.from_env({"SNAPSHOT_UPSTREAM_NO_PROXY": "10.0.0.0/33"})
    with pytest.raises(SettingsError, match="SNAPSHOT_UPSTREAM_UNRESOLVED"):
        Settings.from_env({"SNAPSHOT_UPSTREAM_UNRESOLVED": "maybe"})


def test_no_proxy_matches_hosts_domain_suffixes_and_networks():
    no_proxy = NoProxy.of((".svc", "cluster.local", "10.0.0.0/8"))
    assert no_proxy.matches("grafana.monitoring.svc", None)
    assert no_proxy.matches("cluster.local", None) and no_proxy.matches("a.cluster.local.", None)
    assert not no_proxy.matches("svc.example.com", None) and not no_proxy.matches("notcluster.local", None)
    assert no_proxy.matches("intranet.example", ipaddress.ip_address("10.1.2.3"))
    assert not no_proxy.matches("example.com", ipaddress.ip_address("93.184.216.34"))


def test_an_upstream_gets_pinned_addresses_in_absolute_form_with_its_credentials():
    upstream = Upstream.of("http://u:p@proxy.corp:3128")
    line = upstream.request_line("GET", "93.184.216.34:80", "/a?b=1", "HTTP/1.1")
    assert line == "GET http://93.184.216.34:80/a?b=1 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n"
