#!/usr/bin/env bash
# The benchmark's own setup: install wrk (the load generator) and nginx-light (the yardstick)
# from the distribution when they are missing. Needs root and apt-get; without them it says so
# and succeeds anyway, since `python -m bench` falls back to its own load generator and runs
# without nginx (ratios to nginx are then left blank).
set -uo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
if ((${#missing[@]} == 0)); then
    exit 0
fi
if ! command -v apt-get >/dev/null || [[ $(id -u) != 0 ]]; then
    echo "bench/setup.sh: ${missing[*]} missing and apt-get unusable here (needs root);" \
        "install them yourself, or the harness uses its own load generator and skips nginx" >&2
    exit 0
fi
apt-get update -qq || echo "bench/setup.sh: apt-get update failed; installing from the cached lists" >&2
for package in "${missing[@]}"; do
    apt-get install -y -qq "$package" >/dev/null \
        || echo "bench/setup.sh: $package could not be installed; the harness will do without it" >&2
done
