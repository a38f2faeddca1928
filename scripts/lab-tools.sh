#!/usr/bin/env bash
# Finds or builds the real control-plane binaries of meshmove's lab (a real Kubernetes cluster and
# two real istiod revisions on loopback) and prints the directory that holds them.
#
#   kube-apiserver kube-controller-manager kube-scheduler kubectl   k8s.io/kubernetes  v1.37.2
#   etcd                                                            go.etcd.io/etcd/server/v3 v3.7.3
#   kwok (+ its node and pod stages)                                sigs.k8s.io/kwok   v0.8.0
#   pilot-discovery (istiod), istio-render, xds-standin             istio.io/istio     (snapshot below)
#
# Everything comes from the Go module proxy; nothing is downloaded from anywhere else and no binary is
# committed. Each component is cached in ${XDG_CACHE_HOME:-$HOME/.cache}/meshmove/lab/<component>-<version>/
# (meshmove's own Go programs under the hash of lab/go/), and the printed directory links them all, so a
# second run is instant and a change to lab/go/ rebuilds only those programs.
# A cold build takes 10-20 minutes on 2 cores and several GB of Go build cache.
#
# Environment: MESHMOVE_LAB_BIN=DIR uses DIR as it is (must hold every binary).
# Progress goes to stderr; only the directory to stdout. Exit 1 with the fix when it cannot.
set -euo pipefail

K8S_VERSION="v1.37.2"
ETCD_VERSION="v3.7.3"
KWOK_VERSION="v0.8.0"
ISTIO_VERSION="v0.0.0-20260827124520-eed52ebb66ad" # Istio master snapshot (VERSION 1.31); Istio publishes no semver modules
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok pilot-discovery istio-render xds-standin)

here="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf '[lab-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { printf 'lab-tools: %s\n' "$*" >&2; exit 1; }

complete() {
  local dir=$1 b
  for b in "${BINARIES[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
  [[ -f "$dir/kwok-stages.yaml" ]]
}

if [[ -n "${MESHMOVE_LAB_BIN:-}" ]]; then
  complete "$MESHMOVE_LAB_BIN" || fail "MESHMOVE_LAB_BIN=$MESHMOVE_LAB_BIN lacks one of: ${BINARIES[*]} kwok-stages.yaml. Unset it to build them."
  echo "$MESHMOVE_LAB_BIN"; exit 0
fi

command -v go >/dev/null 2>&1 || fail "Go is not installed. The lab builds Kubernetes and istiod from the Go module proxy: install Go >= 1.26 (e.g. apt-get install golang-1.26, or go.dev/dl) and run again."
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[[ "$go_minor" =~ ^[0-9]+$ ]] && (( go_minor >= 26 )) || fail "Go $(go env GOVERSION) is too old: Kubernetes $K8S_VERSION and the Istio snapshot need Go >= 1.26."

src_hash=$(cat "$here"/lab/go/*/*.go | sha256sum | cut -c1-12)
root="${XDG_CACHE_HOME:-$HOME/.cache}/meshmove/lab"
kube_out="$root/k8s-$K8S_VERSION" etcd_out="$root/etcd-$ETCD_VERSION" kwok_out="$root/kwok-$KWOK_VERSION"
istio_out="$root/istio-${ISTIO_VERSION##*-}" own_out="$root/meshmove-go-$src_hash.istio-${ISTIO_VERSION##*-}"
out="$root/bin-k8s-$K8S_VERSION.etcd-$ETCD_VERSION.kwok-$KWOK_VERSION.istio-${ISTIO_VERSION##*-}.go-$src_hash"
if complete "$out"; then echo "$out"; exit 0; fi

mkdir -p "$root/build" "$kube_out" "$etcd_out" "$kwok_out" "$istio_out" "$own_out"
exec 9>"$root/build.lock"
flock 9 # two test files (or two users of one cache) never build at once
if complete "$out"; then echo "$out"; exit 0; fi
say "building the lab's control planes into $out (one time; about 10-15 minutes on 2 cores)"

export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" GOTOOLCHAIN=local
strip="-s -w"
started=$(date +%s)
step() { say "$1 ($(( $(date +%s) - started ))s so far)"; }

# --- Kubernetes: a tools module that requires k8s.io/kubernetes and points each staging module at
# its published version (the tag's go.mod replaces them with ./staging paths, which go install refuses).
kube_mod="$root/build/kube-$K8S_VERSION"
if [[ ! -f "$kube_mod/go.sum" ]]; then
  step "resolving k8s.io/kubernetes $K8S_VERSION"
  rm -rf "$kube_mod"; mkdir -p "$kube_mod"
  gomod=$(cd "$kube_mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -nE 's/^\s*"GoMod": "(.*)",?$/\1/p')
  [[ -f "$gomod" ]] || fail "could not download k8s.io/kubernetes@$K8S_VERSION's go.mod from the Go module proxy"
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module meshmove.lab/kube"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # sample-cli-plugin and sample-controller are not published; no binary built here needs them.
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}' |
      grep -vE '^k8s\.io/sample-(cli-plugin|controller)$' |
      while read -r m; do echo "replace $m => $m $staging_version"; done
  } >"$kube_mod/go.mod"
  printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n\t_ "k8s.io/kubernetes/cmd/kube-scheduler"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n' >"$kube_mod/tools.go"
  (cd "$kube_mod" && go mod tidy >&2) || { rm -f "$kube_mod/go.sum"; fail "resolving the Kubernetes tools module failed (see above)"; }
fi
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
kube_ldflags="$strip"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [[ -x "$kube_out/$b" ]] && continue
  step "building $b $K8S_VERSION"
  (cd "$kube_mod" && go build -ldflags "$kube_ldflags" -o "$kube_out/$b.tmp" "k8s.io/kubernetes/cmd/$b" >&2) || fail "building $b failed (see above)"
  mv "$kube_out/$b.tmp" "$kube_out/$b"
done

# --- etcd: its server module's root package is the etcd main.
if [[ ! -x "$etcd_out/etcd" ]]; then
  etcd_mod="$root/build/etcd-$ETCD_VERSION"
  step "building etcd $ETCD_VERSION"
  mkdir -p "$etcd_mod"
  if [[ ! -f "$etcd_mod/go.sum" ]]; then
    printf 'module meshmove.lab/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$etcd_mod/go.mod"
    printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$etcd_mod/tools.go"
    (cd "$etcd_mod" && go mod tidy >&2) || { rm -f "$etcd_mod/go.sum"; fail "resolving etcd failed (see above)"; }
  fi
  (cd "$etcd_mod" && go build -ldflags "$strip" -o "$etcd_out/etcd.tmp" go.etcd.io/etcd/server/v3 >&2) || fail "building etcd failed (see above)"
  mv "$etcd_out/etcd.tmp" "$etcd_out/etcd"
fi

# --- kwok: plain go install; the standalone binary has no built-in stages, so its module's own
# fast node/pod stages and lease heartbeat are assembled into one config file.
if [[ ! -x "$kwok_out/kwok" || ! -f "$kwok_out/kwok-stages.yaml" ]]; then
  step "building kwok $KWOK_VERSION"
  GOBIN="$kwok_out" go install -ldflags "$strip" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2 || fail "building kwok failed (see above)"
  kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
  stages="$kwok_dir/kustomize/stage"
  {
    for f in "$stages"/node/fast/node-initialize.yaml "$stages"/node/heartbeat-with-lease/*.yaml "$stages"/pod/fast/*.yaml; do
      [[ "$(basename "$f")" == kustomization.yaml ]] && continue
      echo "---"; cat "$f"
    done
  } >"$kwok_out/kwok-stages.yaml.tmp"
  grep -q "kind: Stage" "$kwok_out/kwok-stages.yaml.tmp" || fail "no kwok stages found in $stages"
  mv "$kwok_out/kwok-stages.yaml.tmp" "$kwok_out/kwok-stages.yaml"
fi

# --- Istio: pilot-discovery, plus meshmove's own two small Go programs built against the same module:
# istio-render (Istio's own charts rendered as istioctl manifest generate does) and xds-standin
# (one ADS stream per injected pod to the istiod its injector named, since no Envoy runs here).
istio_mod="$root/build/istio-${ISTIO_VERSION##*-}"
if [[ ! -x "$istio_out/pilot-discovery" || ! -x "$own_out/istio-render" || ! -x "$own_out/xds-standin" ]]; then
  if [[ ! -f "$istio_mod/go.sum" ]]; then
    step "resolving istio.io/istio $ISTIO_VERSION"
    rm -rf "$istio_mod"; mkdir -p "$istio_mod"
    printf 'module meshmove.lab/istio\n\ngo 1.26.0\n\nrequire istio.io/istio %s\n' "$ISTIO_VERSION" >"$istio_mod/go.mod"
    printf 'package tools\n\nimport _ "istio.io/istio/pilot/cmd/pilot-discovery"\n' >"$istio_mod/tools.go"
    cp -r "$here"/lab/go/. "$istio_mod/"
    (cd "$istio_mod" && go mod tidy >&2) || { rm -f "$istio_mod/go.sum"; fail "resolving the Istio tools module failed (see above)"; }
  fi
  rm -rf "$istio_mod/istio-render" "$istio_mod/xds-standin"; cp -r "$here"/lab/go/. "$istio_mod/"
  if [[ ! -x "$istio_out/pilot-discovery" ]]; then
    step "building pilot-discovery (istiod)"
    (cd "$istio_mod" && go build -ldflags "$strip" -o "$istio_out/pilot-discovery.tmp" istio.io/istio/pilot/cmd/pilot-discovery >&2) || fail "building pilot-discovery failed (see above)"
    mv "$istio_out/pilot-discovery.tmp" "$istio_out/pilot-discovery"
  fi
  for b in istio-render xds-standin; do
    [[ -x "$own_out/$b" ]] && continue
    step "building $b (lab/go/$b)"
    (cd "$istio_mod" && go build -ldflags "$strip" -o "$own_out/$b.tmp" "./$b" >&2) || fail "building $b failed (see above)"
    mv "$own_out/$b.tmp" "$own_out/$b"
  done
fi

mkdir -p "$out"
for f in "$kube_out"/kube-apiserver "$kube_out"/kube-controller-manager "$kube_out"/kube-scheduler "$kube_out"/kubectl \
  "$etcd_out"/etcd "$kwok_out"/kwok "$kwok_out"/kwok-stages.yaml "$istio_out"/pilot-discovery "$own_out"/istio-render "$own_out"/xds-standin; do
  ln -sfn "$f" "$out/$(basename "$f")"
done
complete "$out" || fail "internal: $out is still incomplete"
step "done"
echo "$out"
