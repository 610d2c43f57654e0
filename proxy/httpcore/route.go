package httpcore

import "strings"

// Balance says what a backend group hashes to pick a backend.
type Balance uint8

// The balance keys.
const (
	BalancePlain  Balance = iota // no key (round robin, leastconn, random)
	BalanceSource                // the client address
	BalanceURI                   // the path
)

// RouteSpec is one route of a service, as configured: requests whose
// Host matches one of Hosts (exact, or "*.suffix"; any when empty) and
// whose path starts with PathPrefix go to backend group Group.
type RouteSpec struct {
	Hosts      []string
	PathPrefix string
	Group      int
}

type route struct {
	exact    []string // lower-case host names
	suffixes []string // ".example.com" for "*.example.com"
	prefix   string
	group    int
}

// Router picks a request's backend group (0: the service's own), its
// balance key and the sticky cookie it carries. It is built once per
// service and only read after, by every path at once.
type Router struct {
	routes   []route
	balances []Balance // by group
	cookie   string    // the sticky cookie's name; "" when not sticky
}

// NewRouter builds the router of a service whose groups balance as
// balances say (index 0: the service's own) and whose sticky cookie, if
// any, is named cookie.
func NewRouter(specs []RouteSpec, balances []Balance, cookie string) *Router {
	r := &Router{balances: balances, cookie: cookie}
	for _, s := range specs {
		rt := route{prefix: s.PathPrefix, group: s.Group}
		for _, h := range s.Hosts {
			h = strings.ToLower(h)
			if suf, ok := strings.CutPrefix(h, "*"); ok {
				rt.suffixes = append(rt.suffixes, suf)
			} else {
				rt.exact = append(rt.exact, h)
			}
		}
		r.routes = append(r.routes, rt)
	}
	return r
}

// Decision is where a request goes: its backend group, the key its group
// hashes (nil: none) and the value of its sticky cookie (nil: none).
type Decision struct {
	Group  int
	Key    []byte
	Cookie []byte
}

// Route decides for request h from a client whose address (for balance
// source) is clientKey. The slices point into h and clientKey.
func (r *Router) Route(h *Head, clientKey []byte) Decision {
	d := Decision{Group: r.group(h.HostName(), h.Path())}
	switch r.balances[d.Group] {
	case BalanceSource:
		d.Key = clientKey
	case BalanceURI:
		d.Key = h.Path()
	}
	if r.cookie != "" {
		d.Cookie = h.Cookie(r.cookie)
	}
	return d
}

// group is the first route's group that matches host and path, in order.
func (r *Router) group(host, path []byte) int {
	for i := range r.routes {
		rt := &r.routes[i]
		if len(rt.exact)+len(rt.suffixes) > 0 {
			ok := false
			for _, h := range rt.exact {
				if EqualFold(host, h) {
					ok = true
					break
				}
			}
			for _, suf := range rt.suffixes {
				if !ok && len(host) > len(suf) && EqualFold(host[len(host)-len(suf):], suf) {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		if len(path) >= len(rt.prefix) && string(path[:len(rt.prefix)]) == rt.prefix {
			return rt.group
		}
	}
	return 0
}
