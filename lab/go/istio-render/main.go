// Command istio-render prints the manifests of Istio's own Helm charts, rendered the way
// `istioctl manifest generate` renders them (istio.io/istio/operator/pkg/render), as one YAML stream.
// meshmove's lab installs its two control planes from this output, so every object name, label,
// selector and webhook is the one a real installation has.
//
//	istio-render --set profile=minimal --set revision=canary [--set KEY=VALUE ...] > install.yaml
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"istio.io/istio/operator/pkg/render"
)

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var sets setFlags
	flag.Var(&sets, "set", "an IstioOperator value, KEY=VALUE (repeatable), as istioctl's --set")
	flag.Parse()

	sets2 := append([]string(nil), sets...)
	manifestSets, _, err := render.GenerateManifest(nil, sets2, false, nil, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "istio-render: %v\n", err)
		os.Exit(1)
	}
	var docs []string
	for _, set := range manifestSets {
		for _, m := range set.Manifests {
			docs = append(docs, strings.TrimSpace(m.Content))
		}
	}
	// A stable order, so two renders of the same values are byte-identical.
	sort.Strings(docs)
	for _, d := range docs {
		fmt.Printf("---\n%s\n", d)
	}
}
