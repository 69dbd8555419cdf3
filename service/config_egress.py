"""The settings of how browsers reach the network (the filtering proxy, an upstream proxy behind it,
the ad and tracker lists) and of who may use the service (tenants).  ``service.config.Settings`` has
them with every other setting."""

from __future__ import annotations

from dataclasses import dataclass

from service.envvars import setting as _setting

DEBIAN_FILTER_LISTS = "/usr/share/chromium/extensions/ublock-origin/assets/thirdparties/easylist"
UNRESOLVED_CHOICES = ("refuse", "forward")


@dataclass(frozen=True)
class EgressSettings:
    # --- the filtering proxy (service/egress.py)
    egress_proxy: bool = _setting(
        "SNAPSHOT_EGRESS_PROXY",
        True,
        "Route every browser connection through the built-in filtering proxy (checks each address).",
    )
    proxy_host: str = _setting("SNAPSHOT_PROXY_HOST", "127.0.0.1", "Address the filtering proxy binds to.")
    proxy_port: int = _setting(
        "SNAPSHOT_PROXY_PORT", 0, "Port of the filtering proxy; 0: any free port.", minimum=0, maximum=65535
    )
    proxy_url: str | None = _setting(
        "SNAPSHOT_PROXY_URL",
        None,
        "URL browsers use to reach the proxy (Grid nodes: e.g. `http://snapshot-egress:3128`); "
        "unset: http://127.0.0.1:<port>.",
    )
    # --- an upstream proxy behind it (service/upstream.py)
    upstream_proxy: str | None = _setting(
        "SNAPSHOT_UPSTREAM_PROXY",
        None,
        "`http://[user:pass@]host:port`: the filtering proxy reaches the targets it allowed through this proxy "
        "(CONNECT for TLS, absolute-form for plain HTTP); unset: directly.",
        secret=True,
    )
    upstream_no_proxy: tuple[str, ...] = _setting(
        "SNAPSHOT_UPSTREAM_NO_PROXY",
        (),
        "Comma-separated hosts, `.domain` suffixes and CIDRs reached directly, not through the upstream proxy.",
    )
    upstream_unresolved: str = _setting(
        "SNAPSHOT_UPSTREAM_UNRESOLVED",
        "refuse",
        "A name the cluster's DNS cannot resolve, with an upstream proxy: `refuse` it, or `forward` it by name "
        "(the upstream resolves it; the policy cannot check its address: docs/operations.md).",
        choices=UNRESOLVED_CHOICES,
    )
    # --- ads and trackers (service/filters.py)
    filter_lists_dir: str = _setting(
        "SNAPSHOT_FILTER_LISTS_DIR",
        DEBIAN_FILTER_LISTS,
        "Directory of the ad and tracker lists: `easylist.txt` and `ads-*.txt` for `block_ads`, "
        "`easyprivacy.txt` and `trackers-*.txt` for `block_trackers` (ABP syntax); missing: those options get 400.",
    )
    # --- tenants (service/tenants.py)
    tenants_file: str | None = _setting(
        "SNAPSHOT_TENANTS_FILE",
        None,
        "YAML or JSON file of named tenants (keys, reach, permissions, limits, quotas), read at start; "
        "set: every capture endpoint needs a key (docs/tenants.md).",
    )
