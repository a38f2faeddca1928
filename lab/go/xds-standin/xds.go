package main

// A minimal state-of-the-world ADS client, as Envoy speaks it: CDS and LDS first, then EDS for the
// EDS clusters CDS named and RDS for the route configurations the listeners' HTTP connection
// managers name (Istio's pkg/adsc asks RDS by port number, which is right for a sidecar's outbound
// listeners but not for a gateway's "http.<port>" routes). Every response is ACKed with the nonce,
// so the real istiod's /debug/syncz lists the proxy and its state. Used for the gateway and probe
// stand-ins, which route with what istiod sent.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	v3 "istio.io/istio/pilot/pkg/xds/v3"
)

// xdsState is what the proxy holds from istiod at one moment.
type xdsState struct {
	listeners map[string]*listener.Listener
	clusters  map[string]*cluster.Cluster
	routes    map[string]*route.RouteConfiguration
	endpoints map[string]*endpoint.ClusterLoadAssignment
}

type xdsClient struct {
	node   *core.Node
	conn   *grpc.ClientConn
	cancel context.CancelFunc

	mu    sync.Mutex
	state xdsState
	// Subscriptions (resource names) for EDS and RDS, and the last response of each type.
	want map[string][]string
	last map[string]*discovery.DiscoveryResponse
	err  error
}

func newNode(nodeType, ip, pod, namespace string, labels map[string]string) *core.Node {
	meta, _ := structpb.NewStruct(map[string]any{
		"NAME":          pod,
		"NAMESPACE":     namespace,
		"CLUSTER_ID":    "Kubernetes",
		"ISTIO_VERSION": "1.31.0",
		"LABELS":        toAny(labels),
	})
	return &core.Node{Id: fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", nodeType, ip, pod, namespace, namespace), Metadata: meta}
}

func dialXds(address string, node *core.Node) (*xdsClient, error) {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		_ = conn.Close()
		return nil, err
	}
	c := &xdsClient{
		node: node, conn: conn, cancel: cancel,
		state: xdsState{listeners: map[string]*listener.Listener{}, clusters: map[string]*cluster.Cluster{}, routes: map[string]*route.RouteConfiguration{}, endpoints: map[string]*endpoint.ClusterLoadAssignment{}},
		want:  map[string][]string{},
		last:  map[string]*discovery.DiscoveryResponse{},
	}
	for _, t := range []string{v3.ClusterType, v3.ListenerType} {
		if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: t}); err != nil {
			c.Close()
			return nil, err
		}
	}
	go c.recv(stream)
	return c, nil
}

func (c *xdsClient) Close() {
	c.cancel()
	_ = c.conn.Close()
}

// recv is the only goroutine that sends after the first requests (a gRPC stream is not safe for
// concurrent sends).
func (c *xdsClient) recv(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	for {
		resp, err := stream.Recv()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var follow []*discovery.DiscoveryRequest
		c.mu.Lock()
		c.last[resp.TypeUrl] = resp
		switch resp.TypeUrl {
		case v3.ClusterType:
			m := map[string]*cluster.Cluster{}
			var eds []string
			for _, r := range resp.Resources {
				cl := &cluster.Cluster{}
				if unmarshal(r, cl) {
					m[cl.Name] = cl
					if cl.GetType() == cluster.Cluster_EDS {
						eds = append(eds, cl.Name)
					}
				}
			}
			c.state.clusters = m
			follow = c.subscribe(v3.EndpointType, eds)
		case v3.ListenerType:
			m := map[string]*listener.Listener{}
			var rds []string
			for _, r := range resp.Resources {
				l := &listener.Listener{}
				if unmarshal(r, l) {
					m[l.Name] = l
					rds = append(rds, routeNames(l)...)
				}
			}
			c.state.listeners = m
			follow = c.subscribe(v3.RouteType, rds)
		case v3.RouteType:
			// RDS and EDS are not wildcard types: a response may carry only the resources that
			// changed (istiod's incremental EDS does), the others stay as they were.
			m := keep(c.state.routes, c.want[v3.RouteType])
			for _, r := range resp.Resources {
				rc := &route.RouteConfiguration{}
				if unmarshal(r, rc) {
					m[rc.Name] = rc
				}
			}
			c.state.routes = m
		case v3.EndpointType:
			m := keep(c.state.endpoints, c.want[v3.EndpointType])
			for _, r := range resp.Resources {
				cla := &endpoint.ClusterLoadAssignment{}
				if unmarshal(r, cla) {
					m[cla.ClusterName] = cla
				}
			}
			c.state.endpoints = m
		}
		ack := &discovery.DiscoveryRequest{TypeUrl: resp.TypeUrl, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce, ResourceNames: c.want[resp.TypeUrl]}
		c.mu.Unlock()
		for _, req := range append([]*discovery.DiscoveryRequest{ack}, follow...) {
			if err := stream.Send(req); err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
		}
	}
}

// keep copies the entries of a map that are still subscribed.
func keep[T any](m map[string]T, names []string) map[string]T {
	out := make(map[string]T, len(names))
	for _, n := range names {
		if v, ok := m[n]; ok {
			out[n] = v
		}
	}
	return out
}

// subscribe returns the request that changes a subscription, or nothing when it is unchanged.
// Called with c.mu held.
func (c *xdsClient) subscribe(typeURL string, names []string) []*discovery.DiscoveryRequest {
	sort.Strings(names)
	names = slices.Compact(names)
	if _, asked := c.want[typeURL]; asked && slices.Equal(c.want[typeURL], names) {
		return nil
	}
	c.want[typeURL] = names
	req := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names}
	if prev := c.last[typeURL]; prev != nil {
		req.VersionInfo, req.ResponseNonce = prev.VersionInfo, prev.Nonce
	}
	return []*discovery.DiscoveryRequest{req}
}

// synced: CDS and LDS answered, and every subscribed route configuration and cluster load
// assignment received (what Envoy waits for before its listeners serve).
func (c *xdsClient) synced() bool {
	return c.missing() == ""
}

// missing names what the proxy still waits for ("" when synced).
func (c *xdsClient) missing() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last[v3.ClusterType] == nil || c.last[v3.ListenerType] == nil {
		return "CDS or LDS"
	}
	for _, n := range c.want[v3.RouteType] {
		if c.state.routes[n] == nil {
			return "RDS " + n
		}
	}
	for _, n := range c.want[v3.EndpointType] {
		if c.state.endpoints[n] == nil {
			return "EDS " + n
		}
	}
	return ""
}

// snapshot is the state now (maps are replaced, never mutated, so sharing them is safe).
func (c *xdsClient) snapshot() (xdsState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.err
}

// waitSynced polls until synced or the timeout.
func (c *xdsClient) waitSynced(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !c.synced() {
		if _, err := c.snapshot(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no complete xDS config from istiod within %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func unmarshal(a *anypb.Any, m proto.Message) bool {
	return a.UnmarshalTo(m) == nil
}

// httpManagers are the HTTP connection managers of a listener's filter chains.
func httpManagers(l *listener.Listener) []*hcm.HttpConnectionManager {
	var out []*hcm.HttpConnectionManager
	chains := append([]*listener.FilterChain{}, l.FilterChains...)
	if l.DefaultFilterChain != nil {
		chains = append(chains, l.DefaultFilterChain)
	}
	for _, fc := range chains {
		for _, f := range fc.Filters {
			if f.GetTypedConfig() == nil {
				continue
			}
			h := &hcm.HttpConnectionManager{}
			if f.GetTypedConfig().UnmarshalTo(h) == nil {
				out = append(out, h)
			}
		}
	}
	return out
}

func routeNames(l *listener.Listener) []string {
	var out []string
	for _, h := range httpManagers(l) {
		if n := h.GetRds().GetRouteConfigName(); n != "" {
			out = append(out, n)
		}
	}
	return out
}
