package dataplane

import (
	"math"
	"regexp"
	"strings"
)

// Route is one weighted destination of a route rule.
type Route struct {
	Host   string
	Weight int
	// Service is the Service host the mesh reports in telemetry when Host
	// names a DestinationRule subset: Istio's destination_service is the
	// route's host, never the subset. "" when Host is the Service itself.
	Service string
}

// HeaderMatch holds when the request has the header Name (case-insensitive)
// and its value equals Exact, starts with Prefix and fully matches the RE2
// Regex, each where set; with none set, when the header is present. An
// invalid Regex never matches.
type HeaderMatch struct {
	Name, Exact, Prefix, Regex string
}

// HTTPRoute is one rule of the VirtualService's http list.
type HTTPRoute struct {
	// Match is an OR of ANDs of header matches; empty matches every request.
	Match  [][]HeaderMatch
	Routes []Route
	// Mirror is a Service that also gets MirrorPercent (0..100) of the
	// requests the rule routes; "" mirrors none. Mirrored requests are in
	// telemetry and MirroredStats, their responses discarded.
	Mirror        string
	MirrorPercent float64
}

func (r HTTPRoute) clone() HTTPRoute {
	match := make([][]HeaderMatch, len(r.Match))
	for i, and := range r.Match {
		match[i] = append([]HeaderMatch(nil), and...)
	}
	if r.Match == nil {
		match = nil
	}
	r.Match, r.Routes = match, append([]Route(nil), r.Routes...)
	return r
}

// SetEntry routes all user traffic to one Service (no traffic routing).
func (w *World) SetEntry(service string) {
	w.Flush()
	w.entry = service
	w.routing, w.rules = false, nil
}

// SetRoutes writes the VirtualService's weighted destinations: one rule
// that matches every request.
func (w *World) SetRoutes(routes []Route) {
	w.Flush()
	if !w.routing && len(routes) == 0 {
		// No destinations leave user traffic on the entry, as before rules.
		return
	}
	w.routing = true
	w.rules = []HTTPRoute{{Routes: append([]Route(nil), routes...)}}
}

// SetHTTPRoutes writes the VirtualService's rules, in order: a request
// takes the first rule it matches; one that matches none is not sent. User
// traffic carries no headers.
func (w *World) SetHTTPRoutes(rules []HTTPRoute) {
	w.Flush()
	w.routing = true
	w.rules = make([]HTTPRoute, len(rules))
	for i, rule := range rules {
		w.rules[i] = rule.clone()
		for _, and := range rule.Match {
			for _, match := range and {
				if _, ok := w.regexps[match.Regex]; match.Regex == "" || ok {
					continue
				}
				if w.regexps == nil {
					w.regexps = map[string]*regexp.Regexp{}
				}
				// Anchored: Envoy's safe_regex matches the whole value. An
				// invalid one is stored as nil, which never matches.
				re, err := regexp.Compile(`^(?:` + match.Regex + `)$`)
				if err != nil {
					re = nil
				}
				w.regexps[match.Regex] = re
			}
		}
	}
}

// Routes returns the destinations of the rule user traffic takes, nil
// without traffic routing or when no rule matches it.
func (w *World) Routes() []Route {
	rule := w.matchRule(nil)
	if rule == nil {
		return nil
	}
	return append([]Route(nil), rule.Routes...)
}

// HTTPRoutes returns the VirtualService's rules, nil without traffic routing.
func (w *World) HTTPRoutes() []HTTPRoute {
	if !w.routing {
		return nil
	}
	rules := make([]HTTPRoute, len(w.rules))
	for i, rule := range w.rules {
		rules[i] = rule.clone()
	}
	return rules
}

// matchRule is the first rule a request with headers (lower-case names)
// matches, or nil.
func (w *World) matchRule(headers map[string]string) *HTTPRoute {
	if !w.routing {
		return nil
	}
	for i := range w.rules {
		if w.ruleMatches(&w.rules[i], headers) {
			return &w.rules[i]
		}
	}
	return nil
}

func (w *World) ruleMatches(rule *HTTPRoute, headers map[string]string) bool {
	if len(rule.Match) == 0 {
		return true
	}
	for _, and := range rule.Match {
		all := true
		for _, match := range and {
			if !w.headerMatches(match, headers) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (w *World) headerMatches(match HeaderMatch, headers map[string]string) bool {
	value, ok := headers[strings.ToLower(match.Name)]
	switch {
	case !ok:
		return false
	case match.Exact != "" && value != match.Exact:
		return false
	case match.Prefix != "" && !strings.HasPrefix(value, match.Prefix):
		return false
	case match.Regex != "":
		re := w.regexps[match.Regex]
		return re != nil && re.MatchString(value)
	}
	return true
}

// endpointShare is one destination of traffic with its share of requests.
type endpointShare struct {
	host  string
	rs    *ReplicaSet // nil: no ready endpoint, the client's proxy answers 503
	share float64
	// reported is the Service host telemetry names (a subset's Service).
	reported string
}

// destinations is where requests addressed to host ("" for user traffic)
// with headers go, and the rule that routed them: the route rules for user
// traffic and the routed host while routing is on; else the endpoints of
// the entry (user traffic) or of the Service host.
func (w *World) destinations(host string, headers map[string]string) ([]endpointShare, *HTTPRoute) {
	switch {
	case w.routing && (host == "" || host == w.cfg.RoutedHost):
		rule := w.matchRule(headers)
		if rule == nil {
			return nil, nil
		}
		return w.weighted(rule.Routes), rule
	case host == "":
		if w.entry == "" {
			return nil, nil
		}
		return w.appendEndpoints(nil, w.entry, 1), nil
	}
	return w.appendEndpoints(nil, host, 1), nil
}

// weighted splits traffic over routes by weight.
func (w *World) weighted(routes []Route) []endpointShare {
	var shares []endpointShare
	total := 0
	for _, route := range routes {
		total += route.Weight
	}
	for _, route := range routes {
		if route.Weight > 0 && total > 0 {
			first := len(shares)
			shares = w.appendEndpoints(shares, route.Host, float64(route.Weight)/float64(total))
			if route.Service != "" {
				for i := first; i < len(shares); i++ {
					shares[i].reported = route.Service
				}
			}
		}
	}
	return shares
}

// appendEndpoints splits a weight evenly over a Service's ready endpoints,
// as Envoy balances within a cluster.
func (w *World) appendEndpoints(shares []endpointShare, host string, weight float64) []endpointShare {
	service := w.services[host]
	readyTotal := 0
	if service != nil {
		for _, rs := range w.replicaSets {
			if w.selects(service, rs) {
				readyTotal += rs.ReadyReplicas()
			}
		}
	}
	if readyTotal == 0 {
		return append(shares, endpointShare{host: host, reported: host, share: weight})
	}
	for _, rs := range w.replicaSets {
		if w.selects(service, rs) {
			if ready := rs.ReadyReplicas(); ready > 0 {
				shares = append(shares, endpointShare{host: host, reported: host, rs: rs, share: weight * float64(ready) / float64(readyTotal)})
			}
		}
	}
	return shares
}

// CanaryWeight is the percentage of user traffic routed to the canary: the
// weight of canaryHost in the rule user traffic takes, or, without traffic
// routing, the canary share of the entry's ready endpoints.
func (w *World) CanaryWeight(canaryHost string) int {
	if w.routing {
		rule := w.matchRule(nil)
		if rule == nil {
			return 0
		}
		for _, route := range rule.Routes {
			if route.Host == canaryHost {
				return route.Weight
			}
		}
		return 0
	}
	canary := 0.0
	shares, _ := w.destinations("", nil)
	for _, share := range shares {
		if share.rs != nil && w.Class(share.rs.Image) == "canary" {
			canary += share.share
		}
	}
	return int(math.Round(canary * 100))
}
