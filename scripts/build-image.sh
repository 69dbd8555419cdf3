#!/usr/bin/env bash
# Builds the service image with podman (or docker).
#   scripts/build-image.sh [--debian-base] [--ca-certs FILE]... [--tag NAME]
#     --debian-base   build the base image from Debian 12 packages with mmdebstrap (no registry needed:
#                     air-gapped sites, or machines that cannot pull); otherwise python:3.11-slim-bookworm
#     --ca-certs F    PEM file(s) of extra CAs to trust while building (a TLS-intercepting proxy); they
#                     are passed as a build argument, used during the build and not kept in the image
#     --tag NAME      the image's name (default snapshot:latest)
set -euo pipefail
cd "$(dirname "$0")/.."

debian=0
tag=snapshot:latest
certs=()
while (($#)); do
  case "$1" in
    --debian-base) debian=1 ;;
    --ca-certs) certs+=("$2"); shift ;;
    --tag) tag="$2"; shift ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

engine=$(command -v podman || command -v docker || true)
[[ -n $engine ]] || { echo "build-image: needs podman or docker" >&2; exit 1; }
say() { echo "build-image: $*" >&2; }

base=python:3.11-slim-bookworm
if ((debian)); then
  base=localhost/snapshot-base:bookworm
  if ! "$engine" image exists "$base" 2>/dev/null; then
    say "building the base image from Debian packages (mmdebstrap)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mmdebstrap --variant=minbase --mode=root --include=ca-certificates,python3,python3-venv \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
      bookworm "$tmp/rootfs.tar" >&2
    "$engine" import --change 'CMD ["/bin/bash"]' "$tmp/rootfs.tar" "$base" >/dev/null
  fi
fi

ca=""
for file in "${certs[@]}"; do ca+="$(cat "$file")"$'\n'; done

format=()
[[ $(basename "$engine") == podman ]] && format=(--format docker)  # keeps the HEALTHCHECK (OCI has none)
say "building $tag from $base"
"$engine" build "${format[@]}" --network host --build-arg "BASE=$base" --build-arg "EXTRA_CA_CERTS=$ca" -t "$tag" . >&2
"$engine" image inspect "$tag" --format '{{.Size}}'
