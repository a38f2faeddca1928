// Command xds-standin stands in for the Envoy sidecars of the lab's pods, which kwok runs without
// containers. For every Running pod that has an injected istio-proxy container it opens one ADS
// stream (Istio's own pkg/adsc client) to the istiod that the real injector wrote into that pod
// (PROXY_CONFIG's discoveryAddress), as that pod's proxy: node id sidecar~<podIP>~<pod>.<ns>~...,
// so the real istiod lists it in /debug/syncz and pushes it real CDS/LDS/EDS/RDS, which adsc ACKs.
// A pod deleted, restarted or re-injected for another istiod moves its stream accordingly.
// Gateway pods (injected with the gateway template: istio-proxy runs "proxy router") connect as
// router proxies and serve their Service's external address (gateway.go); meshmove's probe pods
// get a sidecar stream and are completed with the answer their sidecar's xDS gives (probe.go).
//
//	xds-standin --kubeconfig F --istiod istiod.istio-system.svc:15012=127.0.0.1:PORT [--istiod ...]
//	            [--gateway NAMESPACE/SERVICE=EXTERNAL_IP:PORT ...]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pkg/adsc"
)

type mapping map[string]string

func (m mapping) String() string { return fmt.Sprint(map[string]string(m)) }
func (m mapping) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want DISCOVERY_ADDRESS=LOCAL_ADDRESS, got %q", v)
	}
	m[k] = val
	return nil
}

type stream struct {
	local string
	ip    string
	close func()
	// The stream of a router (gateway) or probe pod: routing state read by gateway.go / probe.go.
	xds *xdsClient
}

type standin struct {
	istiods  mapping
	cs       kubernetes.Interface
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	mu       sync.Mutex
	streams  map[string]*stream
	probed   map[types.UID]bool
}

func (s *standin) xdsClientOf(key string) *xdsClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[key]; st != nil {
		return st.xds
	}
	return nil
}

// setXds registers a probe pod's stream (closed when the pod stops Running).
func (s *standin) setXds(key string, c *xdsClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.streams[key]; cur != nil {
		cur.close()
	}
	s.streams[key] = &stream{local: "probe", close: c.Close, xds: c}
}

// isRouter: injected with the gateway template, the proxy runs as a router (pilot-agent proxy router).
func isRouter(pod *corev1.Pod) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == "istio-proxy" {
			for _, a := range c.Args {
				if a == "router" {
					return true
				}
			}
		}
	}
	return false
}

// defaultDiscoveryAddress is ProxyConfig's built-in default: the injector writes into PROXY_CONFIG
// only what differs from it, so a pod of the default revision in istio-system carries "{}".
const defaultDiscoveryAddress = "istiod.istio-system.svc:15012"

// discoveryAddress is what the injector wrote into the pod: the istiod this sidecar would dial.
func discoveryAddress(pod *corev1.Pod) (string, bool) {
	for _, c := range pod.Spec.Containers {
		if c.Name != "istio-proxy" {
			continue
		}
		for _, e := range c.Env {
			if e.Name != "PROXY_CONFIG" {
				continue
			}
			var pc struct {
				DiscoveryAddress string `json:"discoveryAddress"`
			}
			if err := json.Unmarshal([]byte(e.Value), &pc); err != nil {
				return "", false
			}
			if pc.DiscoveryAddress == "" {
				return defaultDiscoveryAddress, true
			}
			return pc.DiscoveryAddress, true
		}
		return defaultDiscoveryAddress, true
	}
	return "", false
}

func (s *standin) reconcile(key string, pod *corev1.Pod) {
	want := ""
	running := pod != nil && pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != ""
	injected := false
	if running {
		if addr, ok := discoveryAddress(pod); ok {
			injected = true
			if local, ok := s.istiods[addr]; ok {
				want = local
			} else {
				log.Printf("%s: discovery address %s is not one of the lab's istiods; no stream", key, addr)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.streams[key]
	if running && isProbe(pod) {
		if !s.probed[pod.UID] {
			s.probed[pod.UID] = true
			istiod := want
			if injected && want == "" {
				istiod = "unknown-istiod.invalid:15012"
			}
			go s.runProbe(pod.DeepCopy(), istiod)
		}
		return
	}
	if cur != nil && want != "" && cur.local == want && cur.ip == pod.Status.PodIP {
		return
	}
	if cur != nil {
		cur.close()
		delete(s.streams, key)
		log.Printf("%s: stream to %s closed", key, cur.local)
	}
	if want == "" {
		return
	}
	if isRouter(pod) {
		c, err := dialXds(want, newNode("router", pod.Status.PodIP, pod.Name, pod.Namespace, pod.Labels))
		if err != nil {
			log.Printf("%s: cannot stream to %s: %v", key, want, err)
			return
		}
		s.streams[key] = &stream{local: want, ip: pod.Status.PodIP, close: c.Close, xds: c}
		log.Printf("%s: router stream to %s as %s", key, want, pod.Status.PodIP)
		return
	}
	meta, _ := structpb.NewStruct(map[string]any{
		"NAME":          pod.Name,
		"NAMESPACE":     pod.Namespace,
		"CLUSTER_ID":    "Kubernetes",
		"ISTIO_VERSION": "1.31.0",
		"LABELS":        toAny(pod.Labels),
	})
	c, err := adsc.New(want, &adsc.ADSConfig{
		Config: adsc.Config{Namespace: pod.Namespace, Workload: pod.Name, IP: pod.Status.PodIP, Meta: meta},
		InitialDiscoveryRequests: []*discovery.DiscoveryRequest{
			{TypeUrl: v3.ClusterType},
			{TypeUrl: v3.ListenerType},
		},
	})
	if err == nil {
		err = c.Run()
	}
	if err != nil {
		log.Printf("%s: cannot stream to %s: %v", key, want, err)
		return
	}
	s.streams[key] = &stream{local: want, ip: pod.Status.PodIP, close: c.Close}
	log.Printf("%s: stream to %s as %s", key, want, pod.Status.PodIP)
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the lab's apiserver")
	istiods := mapping{}
	flag.Var(istiods, "istiod", "DISCOVERY_ADDRESS=LOCAL_ADDRESS: where the stream of a pod injected with that discovery address goes (repeatable)")
	var gateways gatewayFlags
	flag.Var(&gateways, "gateway", "NAMESPACE/SERVICE=EXTERNAL_IP:PORT: serve that gateway Service's external address with its router pods' xDS (repeatable)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Fatalf("client: %v", err)
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	s := &standin{
		istiods: istiods, cs: cs, streams: map[string]*stream{}, probed: map[types.UID]bool{},
		pods:     factory.Core().V1().Pods().Lister(),
		services: factory.Core().V1().Services().Lister(),
		slices:   factory.Discovery().V1().EndpointSlices().Lister(),
	}
	inf := factory.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p := o.(*corev1.Pod); s.reconcile(p.Namespace+"/"+p.Name, p) },
		UpdateFunc: func(_, o any) { p := o.(*corev1.Pod); s.reconcile(p.Namespace+"/"+p.Name, p) },
		DeleteFunc: func(o any) {
			if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(o); err == nil {
				s.reconcile(k, nil)
			}
		},
	})
	stop := make(chan struct{})
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	for _, g := range gateways {
		if err := s.serveGateway(g); err != nil {
			log.Fatalf("%v", err)
		}
	}
	fmt.Println("xds-standin: pod cache synced")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	close(stop)
	s.mu.Lock()
	for _, st := range s.streams {
		st.close()
	}
	s.mu.Unlock()
}
