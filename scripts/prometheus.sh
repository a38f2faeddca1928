#!/usr/bin/env bash
# Prints the path of a Prometheus server binary (the one meshmove's analysis tests and `meshmove demo`
# query), finding or fetching it without the internet beyond the Debian archive:
#   1. $MESHMOVE_PROMETHEUS, if set (must be executable);
#   2. `prometheus` on PATH, if its version is >= 2.42;
#   3. a cached copy in ${XDG_CACHE_HOME:-$HOME/.cache}/meshmove/bin/prometheus-<debian version>/prometheus;
#   4. Debian's package, fetched with `apt-get download` into a temporary directory and unpacked with
#      `dpkg-deb -x` (nothing is installed system-wide); only usr/bin/prometheus is kept. The binary is
#      static Go and serves the HTTP API alone: the package's other files (web UI assets, systemd unit,
#      the exporters it recommends) are not needed.
# Exit 1 with instructions when none of these works. Progress goes to stderr; only the path to stdout.
set -euo pipefail

MIN_VERSION="2.42"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/meshmove/bin"
say() { printf '[prometheus %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# "prometheus, version 2.42.0+ds (branch: ...)" -> 2.42.0
binary_version() { "$1" --version 2>&1 | sed -nE '1s/^prometheus, version ([0-9]+\.[0-9]+(\.[0-9]+)?).*/\1/p'; }
at_least() { [[ "$(printf '%s\n%s\n' "$MIN_VERSION" "$1" | sort -V | head -1)" == "$MIN_VERSION" ]]; }

if [[ -n "${MESHMOVE_PROMETHEUS:-}" ]]; then
  if [[ -f "$MESHMOVE_PROMETHEUS" && -x "$MESHMOVE_PROMETHEUS" ]]; then echo "$MESHMOVE_PROMETHEUS"; exit 0; fi
  echo "MESHMOVE_PROMETHEUS=$MESHMOVE_PROMETHEUS is not an executable file; unset it or point it at a Prometheus server binary (>= $MIN_VERSION)." >&2
  exit 1
fi

if on_path=$(command -v prometheus 2>/dev/null); then
  v=$(binary_version "$on_path")
  if [[ -n "$v" ]] && at_least "$v"; then echo "$on_path"; exit 0; fi
  say "ignoring $on_path: version ${v:-unknown} is older than $MIN_VERSION"
fi

# The Debian version the archive offers now (empty without apt or without package lists).
candidate() { apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'; }
# Directory names carry the version; an epoch's colon is not wanted in a path.
cached_for() { echo "$cache_dir/prometheus-${1//:/_}/prometheus"; }
# The newest cached copy, when the archive cannot say which version is current.
newest_cached() {
  local d
  d=$(find "$cache_dir" -maxdepth 1 -type d -name 'prometheus-*' 2>/dev/null | sort -V | tail -1)
  [[ -n "$d" && -x "$d/prometheus" ]] && echo "$d/prometheus"
}

have_apt=false
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 && have_apt=true
version=""
$have_apt && version=$(candidate)
if [[ -n "$version" && -x "$(cached_for "$version")" ]]; then cached_for "$version"; exit 0; fi
if [[ -z "$version" ]] && found=$(newest_cached); then echo "$found"; exit 0; fi

fetch() {
  mkdir -p "$cache_dir"
  exec 9>"$cache_dir/prometheus.lock"
  flock 9 # two test files (or two users of one cache) never fetch at once
  if [[ -z "$version" ]]; then
    if (( EUID == 0 )); then
      say "no package list offers prometheus; running apt-get update"
      apt-get update -qq >&2 || return 1
      version=$(candidate)
    fi
    if [[ -z "$version" ]]; then
      if (( EUID == 0 )); then say "the package lists offer no prometheus, even after apt-get update"
      else say "the package lists offer no prometheus, and only root may run apt-get update"; fi
      return 1
    fi
  fi
  local dest
  dest=$(cached_for "$version")
  if [[ -x "$dest" ]]; then echo "$dest"; return 0; fi
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  # apt drops to the _apt user for downloads; let it write here, so it does not warn about running
  # unsandboxed.
  chmod 0777 "$tmp"
  say "downloading Debian's prometheus $version with apt-get download (about 19 MB; one time)"
  (cd "$tmp" && apt-get download -q "prometheus=$version" >&2) || return 1
  local deb
  deb=$(find "$tmp" -maxdepth 1 -name 'prometheus_*.deb' | head -1)
  [[ -n "$deb" ]] || { say "apt-get download left no .deb in $tmp"; return 1; }
  dpkg-deb -x "$deb" "$tmp/root" || return 1
  [[ -x "$tmp/root/usr/bin/prometheus" ]] || { say "the package has no usr/bin/prometheus"; return 1; }
  local v
  v=$(binary_version "$tmp/root/usr/bin/prometheus")
  [[ -n "$v" ]] || { say "the unpacked prometheus does not run: $("$tmp/root/usr/bin/prometheus" --version 2>&1 | head -3)"; return 1; }
  # Into place in one rename, so a reader never sees half a binary.
  local staging
  staging=$(mktemp -d "$cache_dir/.prometheus-$version.XXXXXX")
  cp "$tmp/root/usr/bin/prometheus" "$staging/prometheus"
  chmod 0755 "$staging" "$staging/prometheus"
  rm -rf "$(dirname "$dest")"
  mv "$staging" "$(dirname "$dest")"
  say "cached prometheus $v in $(dirname "$dest")"
  echo "$dest"
}

if $have_apt; then
  if path=$(fetch); then echo "$path"; exit 0; fi
  say "fetching Debian's prometheus package failed (see above)"
fi

cat >&2 <<MSG
No Prometheus server found. meshmove's analysis tests and \`meshmove demo\` need one (>= $MIN_VERSION). Any of these works:
  - on Debian or Ubuntu, run this script as root once with the package lists reachable
    (it runs \`apt-get update\` and \`apt-get download prometheus\`; nothing is installed system-wide), or
  - install Prometheus >= $MIN_VERSION so that \`prometheus\` is on PATH (https://prometheus.io/download/), or
  - set MESHMOVE_PROMETHEUS to an existing prometheus binary.
MSG
exit 1
