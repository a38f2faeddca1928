package main

// Routing a request the way Envoy's router does, with nothing but the xDS a real istiod sent: the
// virtual host by the Host header (exact domain, then the longest "*.suffix", then the longest
// "prefix*", then "*"), the first route whose match fits the path, its cluster, and that cluster's
// endpoints from EDS. No rule of meshmove's (or of the twin's) takes part.

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// decision is what the proxy does with one request.
type decision struct {
	// Status is the HTTP status Envoy answers itself (404 NR, 503 UH/NC, a direct response), or
	// 200 when it forwards to an endpoint (the upstream's own answer is synthesized: no app runs).
	// 0: the connection is refused or reset, no HTTP answer (curl's 000).
	Status int
	// Flag is Envoy's response flag for its own answers (NR, UH, NC), "" otherwise.
	Flag        string
	Reason      string
	VirtualHost string
	Cluster     string
	Endpoint    string
	// Passthrough: the route leaves the mesh to the original destination (PassthroughCluster,
	// ORIGINAL_DST); what answers is then decided by the cluster's Services, not by xDS.
	Passthrough bool
}

func (d decision) String() string {
	return fmt.Sprintf("%d %s vhost=%q cluster=%q endpoint=%q passthrough=%v: %s", d.Status, d.Flag, d.VirtualHost, d.Cluster, d.Endpoint, d.Passthrough, d.Reason)
}

func listenerOnPort(st xdsState, port uint32) *listener.Listener {
	var found *listener.Listener
	for _, l := range st.listeners {
		if l.GetAddress().GetSocketAddress().GetPortValue() == port && len(routeNames(l)) > 0 {
			if found == nil || l.Name < found.Name {
				found = l
			}
		}
	}
	return found
}

// routeHTTP routes a request that arrived on listener l.
func routeHTTP(st xdsState, l *listener.Listener, host, path string) decision {
	names := routeNames(l)
	if len(names) == 0 {
		return decision{Status: 0, Reason: fmt.Sprintf("listener %s has no HTTP route configuration", l.Name)}
	}
	rc := st.routes[names[0]]
	if rc == nil {
		return decision{Status: 404, Flag: "NR", Reason: fmt.Sprintf("route configuration %s not received", names[0])}
	}
	vh := selectVirtualHost(rc, host)
	if vh == nil {
		return decision{Status: 404, Flag: "NR", Reason: fmt.Sprintf("no virtual host of route %s matches host %q", rc.Name, host)}
	}
	for _, r := range vh.Routes {
		if !routeMatches(r.GetMatch(), host, path) {
			continue
		}
		d := decision{VirtualHost: vh.Name}
		switch a := r.Action.(type) {
		case *route.Route_DirectResponse:
			d.Status, d.Reason = int(a.DirectResponse.GetStatus()), fmt.Sprintf("direct response of route %q", r.Name)
			return d
		case *route.Route_Redirect:
			d.Status, d.Reason = 301, fmt.Sprintf("redirect of route %q", r.Name)
			return d
		case *route.Route_Route:
			name := a.Route.GetCluster()
			if wc := a.Route.GetWeightedClusters(); wc != nil {
				var best uint32
				for _, c := range wc.Clusters {
					if w := c.GetWeight().GetValue(); name == "" || w > best {
						name, best = c.Name, w
					}
				}
			}
			if name == "" {
				d.Status, d.Flag, d.Reason = 503, "NC", fmt.Sprintf("route %q names no cluster", r.Name)
				return d
			}
			return clusterAnswer(st, d, name)
		default:
			d.Status, d.Flag, d.Reason = 404, "NR", fmt.Sprintf("route %q has no action", r.Name)
			return d
		}
	}
	return decision{Status: 404, Flag: "NR", VirtualHost: vh.Name, Reason: fmt.Sprintf("no route of virtual host %s matches path %q", vh.Name, path)}
}

func clusterAnswer(st xdsState, d decision, name string) decision {
	d.Cluster = name
	cl := st.clusters[name]
	if cl == nil {
		d.Status, d.Flag, d.Reason = 503, "NC", "cluster not in CDS"
		return d
	}
	var cla *endpoint.ClusterLoadAssignment
	switch cl.GetType() {
	case cluster.Cluster_ORIGINAL_DST:
		d.Passthrough, d.Reason = true, "original destination"
		return d
	case cluster.Cluster_EDS:
		cla = st.endpoints[name]
	default:
		cla = cl.GetLoadAssignment()
	}
	if ep := healthyEndpoint(cla); ep != "" {
		d.Status, d.Endpoint, d.Reason = 200, ep, "forwarded to an endpoint from EDS"
		return d
	}
	d.Status, d.Flag, d.Reason = 503, "UH", "no healthy upstream"
	return d
}

func healthyEndpoint(cla *endpoint.ClusterLoadAssignment) string {
	for _, loc := range cla.GetEndpoints() {
		for _, e := range loc.GetLbEndpoints() {
			switch e.GetHealthStatus() {
			case core.HealthStatus_UNKNOWN, core.HealthStatus_HEALTHY, core.HealthStatus_DEGRADED:
			default:
				continue
			}
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				continue
			}
			return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
		}
	}
	return ""
}

// selectVirtualHost: the port is part of the Host unless the route configuration ignores it
// (Istio sets ignore_port_in_host_matching for sidecars and gateways).
func selectVirtualHost(rc *route.RouteConfiguration, host string) *route.VirtualHost {
	host = strings.ToLower(host)
	if rc.GetIgnorePortInHostMatching() {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return matchDomain(rc.VirtualHosts, host)
}

func matchDomain(vhs []*route.VirtualHost, host string) *route.VirtualHost {
	for _, vh := range vhs {
		for _, d := range vh.Domains {
			if strings.ToLower(d) == host {
				return vh
			}
		}
	}
	pick := func(fits func(d string) bool) *route.VirtualHost {
		var best *route.VirtualHost
		bestLen := -1
		for _, vh := range vhs {
			for _, d := range vh.Domains {
				d = strings.ToLower(d)
				if len(d) > 1 && fits(d) && len(d) > bestLen {
					best, bestLen = vh, len(d)
				}
			}
		}
		return best
	}
	if vh := pick(func(d string) bool { return d[0] == '*' && len(host) > len(d)-1 && strings.HasSuffix(host, d[1:]) }); vh != nil {
		return vh
	}
	if vh := pick(func(d string) bool {
		return d[len(d)-1] == '*' && len(host) > len(d)-1 && strings.HasPrefix(host, d[:len(d)-1])
	}); vh != nil {
		return vh
	}
	for _, vh := range vhs {
		for _, d := range vh.Domains {
			if d == "*" {
				return vh
			}
		}
	}
	return nil
}

func routeMatches(m *route.RouteMatch, host, rawPath string) bool {
	if m == nil {
		return false
	}
	p := rawPath
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	caseSensitive := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	norm := func(s string) string {
		if caseSensitive {
			return s
		}
		return strings.ToLower(s)
	}
	ok := false
	switch ps := m.PathSpecifier.(type) {
	case *route.RouteMatch_Prefix:
		ok = strings.HasPrefix(norm(p), norm(ps.Prefix))
	case *route.RouteMatch_Path:
		ok = norm(p) == norm(ps.Path)
	case *route.RouteMatch_PathSeparatedPrefix:
		pre := norm(ps.PathSeparatedPrefix)
		ok = norm(p) == pre || strings.HasPrefix(norm(p), pre+"/")
	case *route.RouteMatch_SafeRegex:
		re, err := regexp.Compile("^(?:" + ps.SafeRegex.GetRegex() + ")$")
		ok = err == nil && re.MatchString(p)
	}
	if !ok || len(m.QueryParameters) > 0 {
		return false
	}
	headers := map[string]string{":authority": host, "host": host, ":path": rawPath, ":method": "GET", ":scheme": "http"}
	for _, h := range m.Headers {
		v, present := headers[strings.ToLower(h.Name)]
		fits := false
		switch hm := h.HeaderMatchSpecifier.(type) {
		case *route.HeaderMatcher_PresentMatch:
			fits = present == hm.PresentMatch
		case *route.HeaderMatcher_StringMatch:
			fits = present && stringMatches(hm.StringMatch, v)
		case *route.HeaderMatcher_ExactMatch:
			fits = present && v == hm.ExactMatch
		case *route.HeaderMatcher_PrefixMatch:
			fits = present && strings.HasPrefix(v, hm.PrefixMatch)
		}
		if fits == h.InvertMatch {
			return false
		}
	}
	return true
}

func stringMatches(sm *matcher.StringMatcher, v string) bool {
	if sm.GetIgnoreCase() {
		v = strings.ToLower(v)
	}
	low := func(s string) string {
		if sm.GetIgnoreCase() {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := sm.MatchPattern.(type) {
	case *matcher.StringMatcher_Exact:
		return v == low(p.Exact)
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(v, low(p.Prefix))
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(v, low(p.Suffix))
	case *matcher.StringMatcher_Contains:
		return strings.Contains(v, low(p.Contains))
	case *matcher.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + p.SafeRegex.GetRegex() + ")$")
		return err == nil && re.MatchString(v)
	}
	return false
}

// outboundDefault is what a sidecar does with a connection no outbound listener takes: the
// virtualOutbound listener's default chain (PassthroughCluster with ALLOW_ANY, BlackHoleCluster
// with REGISTRY_ONLY).
func outboundDefault(st xdsState) decision {
	l := st.listeners["virtualOutbound"]
	if l == nil {
		return decision{Status: 0, Reason: "no virtualOutbound listener: the connection is not taken"}
	}
	chains := append([]*listener.FilterChain{}, l.FilterChains...)
	if l.DefaultFilterChain != nil {
		chains = append([]*listener.FilterChain{l.DefaultFilterChain}, chains...)
	}
	for _, fc := range chains {
		if fc != l.DefaultFilterChain && fc.GetName() != "PassthroughFilterChain" {
			continue
		}
		for _, f := range fc.Filters {
			tp := &tcpproxy.TcpProxy{}
			if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(tp) != nil {
				continue
			}
			name := tp.GetCluster()
			if name == "BlackHoleCluster" {
				return decision{Status: 0, Cluster: name, Reason: "outbound traffic policy REGISTRY_ONLY: the connection is closed"}
			}
			return clusterAnswer(st, decision{}, name)
		}
	}
	return decision{Status: 0, Reason: "virtualOutbound has no passthrough chain"}
}

// serviceOfCluster: "outbound|8080||orders.orders.svc.cluster.local" -> orders, orders.
func serviceOfCluster(name string) (svc, namespace string) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 {
		return "", ""
	}
	labels := strings.Split(parts[3], ".")
	if len(labels) < 2 {
		return "", ""
	}
	return labels[0], labels[1]
}
