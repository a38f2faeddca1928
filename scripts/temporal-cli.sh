#!/usr/bin/env bash
# Prints the path of a Temporal CLI binary (the dev server meshmove's tests and `meshmove dev` run),
# finding or building it without the internet:
#   1. $TEMPORAL_CLI_PATH, if set (must be executable);
#   2. `temporal` on PATH;
#   3. a cached build in ${XDG_CACHE_HOME:-$HOME/.cache}/meshmove/bin/temporal;
#   4. `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` into that cache, when Go >= 1.25
#      is present (v1.5.1 is the newest tag whose go.mod has no `replace` directive, so it builds
#      from the Go module proxy; the first build takes several minutes on 2 cores).
# Exit 1 with instructions when none of these works. Progress goes to stderr; only the path to stdout.
set -euo pipefail

CLI_VERSION="v1.5.1"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/meshmove/bin"
cached="$cache_dir/temporal"

if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then
  if [[ -x "$TEMPORAL_CLI_PATH" ]]; then echo "$TEMPORAL_CLI_PATH"; exit 0; fi
  echo "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file; unset it or point it at a Temporal CLI binary." >&2
  exit 1
fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [[ -x "$cached" ]]; then echo "$cached"; exit 0; fi

if command -v go >/dev/null 2>&1; then
  go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
  if [[ "$go_minor" =~ ^[0-9]+$ ]] && (( go_minor >= 25 )); then
    echo "Building the Temporal CLI $CLI_VERSION from the Go module proxy into $cache_dir (one time; several minutes)..." >&2
    mkdir -p "$cache_dir"
    # A private GOPATH module cache is not needed; the build cache is reused between runs.
    if GOBIN="$cache_dir" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install "github.com/temporalio/cli/cmd/temporal@$CLI_VERSION" >&2; then
      echo "$cached"; exit 0
    fi
    echo "go install of the Temporal CLI failed (see above)." >&2
  else
    echo "Go $(go env GOVERSION) is too old to build the Temporal CLI $CLI_VERSION (needs Go >= 1.25)." >&2
  fi
fi

cat >&2 <<MSG
No Temporal CLI found. meshmove needs one to run a local Temporal server. Any of these works:
  - install it: https://docs.temporal.io/cli (then \`temporal\` is on PATH), or
  - set TEMPORAL_CLI_PATH to an existing binary, or
  - install Go >= 1.25 and run this script again: it builds $CLI_VERSION from the Go module proxy.
MSG
exit 1
