package main

import (
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

func routeTo(prefix, cl string) *route.Route {
	return &route.Route{
		Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: prefix}},
		Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: cl}}},
	}
}

func fixture(t *testing.T, healthy bool) (xdsState, *listener.Listener) {
	t.Helper()
	h, err := anypb.New(&hcm.HttpConnectionManager{RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{RouteConfigName: "http.8080"}}})
	if err != nil {
		t.Fatal(err)
	}
	l := &listener.Listener{
		Name:         "0.0.0.0_8080",
		Address:      &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: "0.0.0.0", PortSpecifier: &core.SocketAddress_PortValue{PortValue: 8080}}}},
		FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listener.Filter_TypedConfig{TypedConfig: h}}}}},
	}
	orders := "outbound|8080||orders.orders.svc.cluster.local"
	shop := "outbound|8080||frontend.frontend.svc.cluster.local"
	status := core.HealthStatus_HEALTHY
	if !healthy {
		status = core.HealthStatus_UNHEALTHY
	}
	ep := &endpoint.LbEndpoint{HealthStatus: status, HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: "10.244.0.7", PortSpecifier: &core.SocketAddress_PortValue{PortValue: 8080}}}}}}}
	st := xdsState{
		listeners: map[string]*listener.Listener{l.Name: l},
		clusters: map[string]*cluster.Cluster{
			orders: {Name: orders, ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS}},
			shop:   {Name: shop, ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS}},
		},
		routes: map[string]*route.RouteConfiguration{"http.8080": {
			Name:                     "http.8080",
			IgnorePortInHostMatching: true,
			VirtualHosts: []*route.VirtualHost{
				{Name: "api.y7test.com:80", Domains: []string{"api.y7test.com"}, Routes: []*route.Route{routeTo("/orders", orders), routeTo("/payments", "outbound|8080||payments.payments.svc.cluster.local")}},
				{Name: "shop.y7test.com:80", Domains: []string{"*.y7test.com"}, Routes: []*route.Route{routeTo("/", shop)}},
			},
		}},
		endpoints: map[string]*endpoint.ClusterLoadAssignment{
			orders: {ClusterName: orders, Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{ep}}}},
			shop:   {ClusterName: shop},
		},
	}
	return st, l
}

func TestRouteHTTP(t *testing.T) {
	st, l := fixture(t, true)
	cases := []struct {
		host, path string
		status     int
		flag       string
		cluster    string
	}{
		{"api.y7test.com:31000", "/orders/1", 200, "", "outbound|8080||orders.orders.svc.cluster.local"},
		{"api.y7test.com", "/payments", 503, "NC", "outbound|8080||payments.payments.svc.cluster.local"},
		{"api.y7test.com", "/other", 404, "NR", ""},
		{"shop.y7test.com", "/", 503, "UH", "outbound|8080||frontend.frontend.svc.cluster.local"},
		{"nowhere.example.com", "/", 404, "NR", ""},
	}
	for _, c := range cases {
		d := routeHTTP(st, l, c.host, c.path)
		if d.Status != c.status || d.Flag != c.flag || d.Cluster != c.cluster {
			t.Errorf("%s%s: got %s, want %d %s %s", c.host, c.path, d, c.status, c.flag, c.cluster)
		}
	}
	unhealthy, l2 := fixture(t, false)
	if d := routeHTTP(unhealthy, l2, "api.y7test.com", "/orders"); d.Status != 503 || d.Flag != "UH" {
		t.Errorf("unhealthy endpoints only: got %s, want 503 UH", d)
	}
	if l := listenerOnPort(st, 8080); l == nil || l.Name != "0.0.0.0_8080" {
		t.Errorf("listenerOnPort(8080) = %v", l)
	}
}

func TestMatchDomainPrecedence(t *testing.T) {
	vhs := []*route.VirtualHost{
		{Name: "any", Domains: []string{"*"}},
		{Name: "prefix", Domains: []string{"shop.*"}},
		{Name: "suffix", Domains: []string{"*.y7test.com"}},
		{Name: "longer-suffix", Domains: []string{"*.shop.y7test.com"}},
		{Name: "exact", Domains: []string{"shop.y7test.com"}},
	}
	for host, want := range map[string]string{
		"shop.y7test.com":   "exact",
		"a.shop.y7test.com": "longer-suffix",
		"api.y7test.com":    "suffix",
		"shop.example.com":  "prefix",
		"other.example.com": "any",
	} {
		if got := matchDomain(vhs, host); got == nil || got.Name != want {
			t.Errorf("%s: got %v, want %s", host, got, want)
		}
	}
}
