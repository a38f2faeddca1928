package main

// Gateway stand-in. The lab's ingress gateway Services carry spec.externalIPs on loopback (bare
// metal, no cloud load balancer); kube-proxy would answer on externalIP:port and hand the
// connection to a gateway pod's targetPort. Here this program listens on externalIP:port and routes
// each request with the xDS the gateway pod's router proxy (node type "router") holds from the
// istiod its injector named: the listener on the targetPort, its RDS route configuration, the
// virtual host by Host, the route, the cluster and its EDS endpoints. Real: that routing decision
// and every 404 (NR) / 503 (UH, NC) Envoy would answer itself. Synthesized: the upstream's answer
// when a healthy endpoint exists (200 with a JSON body naming the cluster and endpoint), since no
// application runs.

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

type gatewayFlag struct {
	namespace, service, address string
	port                        int
}

type gatewayFlags []gatewayFlag

func (g *gatewayFlags) String() string { return fmt.Sprint(*g) }
func (g *gatewayFlags) Set(v string) error {
	svc, addr, ok := strings.Cut(v, "=")
	ns, name, ok2 := strings.Cut(svc, "/")
	host, port, err := net.SplitHostPort(addr)
	p, err2 := strconv.Atoi(port)
	if !ok || !ok2 || err != nil || err2 != nil {
		return fmt.Errorf("want NAMESPACE/SERVICE=EXTERNAL_IP:PORT, got %q", v)
	}
	*g = append(*g, gatewayFlag{namespace: ns, service: name, address: host, port: p})
	return nil
}

// reset closes the client's connection without an HTTP answer (what a client sees when nothing
// listens on the pod's port).
func reset(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	w.WriteHeader(http.StatusBadGateway)
}

func (s *standin) serveGateway(g gatewayFlag) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(g.address, strconv.Itoa(g.port)))
	if err != nil {
		return fmt.Errorf("gateway %s/%s: %w", g.namespace, g.service, err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := s.gatewayDecision(g, r.Host, r.URL.RequestURI())
		log.Printf("gateway %s/%s %s%s: %s", g.namespace, g.service, r.Host, r.URL.RequestURI(), d)
		writeDecision(w, d)
	})
	go func() { _ = http.Serve(ln, handler) }()
	log.Printf("gateway %s/%s serving on %s", g.namespace, g.service, ln.Addr())
	return nil
}

func writeDecision(w http.ResponseWriter, d decision) {
	if d.Status == 0 {
		reset(w)
		return
	}
	w.Header().Set("x-lab-decision", d.String())
	if d.Flag != "" {
		w.Header().Set("x-lab-response-flags", d.Flag)
	}
	switch {
	case d.Status == 200:
		svc, ns := serviceOfCluster(d.Cluster)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"cluster": d.Cluster, "endpoint": d.Endpoint, "virtualHost": d.VirtualHost, "service": svc, "namespace": ns,
			"note": "routed by istiod's xDS; this answer of the upstream is synthesized (no application runs in the lab)",
		})
	case d.Status == 503 && d.Flag == "UH":
		w.WriteHeader(503)
		_, _ = w.Write([]byte("no healthy upstream"))
	default:
		w.WriteHeader(d.Status)
	}
}

// gatewayDecision: the Service's targetPort for the port, one of its Running pods with a synced
// router proxy, that proxy's listener on the targetPort.
func (s *standin) gatewayDecision(g gatewayFlag, host, path string) decision {
	svc, err := s.services.Services(g.namespace).Get(g.service)
	if err != nil {
		return decision{Status: 0, Reason: fmt.Sprintf("service %s/%s: %v", g.namespace, g.service, err)}
	}
	var target int32
	for _, p := range svc.Spec.Ports {
		if int(p.Port) == g.port {
			target = p.TargetPort.IntVal
			if target == 0 {
				target = p.Port
			}
		}
	}
	if target == 0 {
		return decision{Status: 0, Reason: fmt.Sprintf("service %s/%s has no port %d", g.namespace, g.service, g.port)}
	}
	pods, _ := s.pods.Pods(g.namespace).List(labels.SelectorFromSet(svc.Spec.Selector))
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	reason := "no Running gateway pod"
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		c := s.xdsClientOf(p.Namespace + "/" + p.Name)
		if c == nil {
			reason = fmt.Sprintf("gateway pod %s has no router proxy connected", p.Name)
			continue
		}
		if m := c.missing(); m != "" {
			reason = fmt.Sprintf("gateway pod %s's proxy has no complete config yet (waits for %s)", p.Name, m)
			continue
		}
		st, _ := c.snapshot()
		l := listenerOnPort(st, uint32(target))
		if l == nil {
			return decision{Status: 0, Reason: fmt.Sprintf("gateway pod %s has no listener on its port %d (istiod sent %d listeners)", p.Name, target, len(st.listeners))}
		}
		d := routeHTTP(st, l, host, path)
		if d.Passthrough {
			return s.passthrough(d, host)
		}
		return d
	}
	return decision{Status: 0, Reason: reason}
}

// passthrough: the request leaves to its original destination, which is the Service the host
// names (kube-dns and kube-proxy would take it there): an answer if it has a ready endpoint,
// no HTTP answer otherwise (NXDOMAIN or a refused connection).
func (s *standin) passthrough(d decision, hostport string) decision {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		host, portStr = hostport, "80"
	}
	port, _ := strconv.Atoi(portStr)
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) < 2 || (len(parts) > 2 && parts[2] != "svc") {
		d.Status, d.Reason = 0, fmt.Sprintf("passthrough to %s: not a cluster Service name", host)
		return d
	}
	svc, err := s.services.Services(parts[1]).Get(parts[0])
	if err != nil {
		d.Status, d.Reason = 0, fmt.Sprintf("passthrough to %s: no such Service (NXDOMAIN)", host)
		return d
	}
	slices, _ := s.slices.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(map[string]string{"kubernetes.io/service-name": svc.Name}))
	for _, sl := range slices {
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready || len(e.Addresses) == 0 {
				continue
			}
			for _, p := range svc.Spec.Ports {
				if int(p.Port) == port || port == 0 {
					d.Status, d.Endpoint = 200, net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(p.TargetPort.IntVal)))
					d.Cluster = fmt.Sprintf("outbound|%d||%s.%s.svc.cluster.local", p.Port, svc.Name, svc.Namespace)
					d.Reason = "passthrough to the original destination (a ready endpoint of the Service)"
					return d
				}
			}
		}
	}
	d.Status, d.Reason = 0, fmt.Sprintf("passthrough to %s:%d: no ready endpoint (connection refused)", host, port)
	return d
}
