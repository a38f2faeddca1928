package main

// Probe stand-in. meshmove's probe Jobs (label meshmove.dev/probe=true, a container "probe" whose
// env URL is the call to make) would run curl beside their sidecar and write the HTTP status to the
// termination message. kwok runs no container, and the lab's kwok stages leave these pods Running
// (lab/kube.ts takes them out of kwok's pod-complete stage). Here, once such a pod is Running, a
// sidecar proxy is connected for it to the istiod its injector named, and the call is decided with
// what that istiod sent: the outbound listener of the URL's port, its route configuration, the
// virtual host of the host, the cluster and its EDS endpoints (or the virtualOutbound default:
// passthrough / blackhole). Then the pod is completed through the status subresource as the kubelet
// would: phase Succeeded, every container terminated with exit code 0, the probe container's
// message the status code ("000" when no HTTP answer).

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

const (
	probeLabel     = "meshmove.dev/probe"
	probeContainer = "probe"
)

func isProbe(pod *corev1.Pod) bool {
	return pod.Labels[probeLabel] == "true"
}

func probeURL(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name != probeContainer {
			continue
		}
		for _, e := range c.Env {
			if e.Name == "URL" {
				return e.Value
			}
		}
	}
	return ""
}

// outboundDecision: what the pod's sidecar does with a call to rawURL.
func (s *standin) outboundDecision(st xdsState, rawURL string) decision {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return decision{Status: 0, Reason: fmt.Sprintf("not a URL: %q", rawURL)}
	}
	port := 80
	if u.Port() != "" {
		port, _ = strconv.Atoi(u.Port())
	}
	hostport := u.Hostname() + ":" + strconv.Itoa(port)
	l := st.listeners["0.0.0.0_"+strconv.Itoa(port)]
	var d decision
	if l != nil && len(routeNames(l)) > 0 {
		d = routeHTTP(st, l, u.Host, u.RequestURI())
	} else {
		d = outboundDefault(st)
	}
	if d.Passthrough {
		return s.passthrough(d, hostport)
	}
	return d
}

func (s *standin) runProbe(pod *corev1.Pod, istiod string) {
	key := pod.Namespace + "/" + pod.Name
	target := probeURL(pod)
	var d decision
	if istiod == "" {
		// No sidecar: the call goes straight to the Service.
		d = s.passthrough(decision{Passthrough: true}, hostPortOf(target))
		d.Reason = "no sidecar: " + d.Reason
	} else {
		c, err := dialXds(istiod, newNode("sidecar", pod.Status.PodIP, pod.Name, pod.Namespace, pod.Labels))
		if err != nil {
			d = decision{Status: 0, Reason: fmt.Sprintf("sidecar cannot reach istiod %s: %v", istiod, err)}
		} else {
			s.setXds(key, c)
			if err := c.waitSynced(20 * time.Second); err != nil {
				d = decision{Status: 0, Reason: "sidecar without config: " + err.Error()}
			} else {
				st, _ := c.snapshot()
				d = s.outboundDecision(st, target)
			}
		}
	}
	code := fmt.Sprintf("%03d", d.Status)
	log.Printf("probe %s -> %s: %s", key, target, d)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.cs.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID {
			return nil
		}
		now := metav1.Now()
		var statuses []corev1.ContainerStatus
		for _, c := range cur.Spec.Containers {
			t := &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}
			if c.Name == probeContainer {
				t.Message = code
			}
			statuses = append(statuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Terminated: t}})
		}
		cur.Status.Phase = corev1.PodSucceeded
		cur.Status.ContainerStatuses = statuses
		for i := range cur.Status.Conditions {
			if cur.Status.Conditions[i].Type == corev1.PodReady || cur.Status.Conditions[i].Type == corev1.ContainersReady {
				cur.Status.Conditions[i].Status = corev1.ConditionFalse
				cur.Status.Conditions[i].Reason = "PodCompleted"
			}
		}
		_, err = s.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		log.Printf("probe %s: cannot complete the pod: %v", key, err)
	}
}

func hostPortOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.Port() == "" {
		return u.Hostname() + ":80"
	}
	return u.Host
}
