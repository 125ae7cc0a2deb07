// Command tailscale-control is the real-Tailscale test lab's control plane (docs/testing-replica.md, "Real
// Tailscale lab"): Tailscale's own test control server (tailscale.com/tstest/integration/testcontrol), a DERP
// server and a STUN server, all on one address inside the lab's namespaces. It is test infrastructure only; the
// product stays Python.
//
// It prints one JSON line when it is ready: {"url": CONTROL_URL, "derp": "IP:PORT", "stun": "IP:PORT"}.
//
// Beyond testcontrol it does two things a real control server does and testcontrol leaves to its Go tests:
//   - approves every route a node advertises (Hostinfo.RoutableIPs), like an autoApprovers policy, so a subnet
//     router that withdraws its route with `tailscale set --advertise-routes=` really withdraws it;
//   - reports presence: a node is online unless the lab said otherwise with
//     POST /lab/online?host=NAME&online=0 (testcontrol has no presence tracking of its own);
//   - shows every node to the others at 100.64.1.ID instead of testcontrol's 100.64.0.ID (Tailscale's own
//     masquerade addresses, NAT done by each tailscaled): 100.64.0.0/26 is Mullvad's DNS range, which the
//     bypass keeps in the tunnel, so a peer there is unreachable through it (as with Headscale's 100.64.0.1).
//     A node's own address stays 100.64.0.ID; GET /lab/nodes lists both;
//   - a node shown offline gets the LastSeen time a real control server sends (testcontrol sends none);
//   - a node advertising an exit node gets the suggest-exit-node attribute (Tailscale's control sets it where
//     suggestions are on), so `/localapi/v0/suggest-exit-node` suggests it;
//   - grants every node Taildrop to and from every other (file-sharing-target/-send app capabilities), as an
//     ACL grant would: testcontrol gives each node its own user, and Taildrop otherwise only goes between one
//     user's devices;
//   - a Mullvad-like location on request: POST /lab/location?host=NAME&country=Sweden&cc=SE&city=Stockholm&
//     citycode=STO&priority=120 gives the node that Hostinfo.Location (what Tailscale's control sends for its
//     Mullvad exit nodes, with their ranking in Priority) and the tag tag:mullvad-exit-node; no country clears
//     both. Kept in place against the node's own Hostinfo updates;
//   - a node key expiry on request: POST /lab/key-expiry?host=NAME&in=72h (testcontrol's keys never expire);
//   - interactive login on request: POST /lab/require-auth?on=1 makes control hand out an auth URL (as
//     Tailscale's control does on a re-authentication), POST /lab/complete-auth?url=URL completes one (the
//     user visited it in a browser).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"tailscale.com/derp/derpserver"
	"tailscale.com/net/stunserver"
	"tailscale.com/tailcfg"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/key"
)

func main() {
	addr := flag.String("addr", "", "IP address to serve control, DERP and STUN on (inside the lab)")
	port := flag.Int("port", 80, "control server TCP port")
	verbose := flag.Bool("v", false, "log every control request")
	flag.Parse()
	if *addr == "" {
		log.Fatal("tailscale-control: -addr is required")
	}
	logf := log.Printf
	if !*verbose {
		logf = func(string, ...any) {}
	}

	stun := stunserver.New(context.Background())
	if err := stun.Listen(net.JoinHostPort(*addr, "3478")); err != nil {
		log.Fatalf("tailscale-control: STUN: %v", err)
	}
	go stun.Serve()

	d := derpserver.New(key.NewNode(), logf)
	derpLn, err := net.Listen("tcp", net.JoinHostPort(*addr, "443"))
	if err != nil {
		log.Fatalf("tailscale-control: DERP: %v", err)
	}
	derpSrv := httptest.NewUnstartedServer(derpserver.Handler(d))
	derpSrv.Listener.Close()
	derpSrv.Listener = derpLn
	derpSrv.Config.TLSNextProto = make(map[string]func(*http.Server, *tls.Conn, http.Handler))
	derpSrv.StartTLS() // self-signed: clients accept it because of InsecureForTests below

	derpMap := &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{
		1: {RegionID: 1, RegionCode: "lab", RegionName: "Lab", Nodes: []*tailcfg.DERPNode{{
			Name: "lab1", RegionID: 1, HostName: *addr, IPv4: *addr, IPv6: "none",
			STUNPort: 3478, DERPPort: 443, InsecureForTests: true, STUNTestIP: *addr,
		}}},
	}}

	url := fmt.Sprintf("http://%s", net.JoinHostPort(*addr, fmt.Sprint(*port)))
	ctl := &testcontrol.Server{
		Logf:            logf,
		DERPMap:         derpMap,
		ExplicitBaseURL: url,
		MagicDNSDomain:  "lab.ts.net",
		// Proxied: MagicDNS on, so 100.100.100.100 answers the tailnet's names.
		DNSConfig: &tailcfg.DNSConfig{Proxied: true, Domains: []string{"lab.ts.net"}},
	}
	ctl.SetGlobalAppCaps(tailcfg.PeerCapMap{
		tailcfg.PeerCapabilityFileSharingTarget: nil,
		tailcfg.PeerCapabilityFileSharingSend:   nil,
	})
	lab := &labState{ctl: ctl, offline: map[string]bool{}, routes: map[key.NodePublic][]netip.Prefix{}, suggest: map[key.NodePublic]bool{}, locations: map[string]*tailcfg.Location{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /lab/online", lab.serveOnline)
	mux.HandleFunc("GET /lab/nodes", lab.serveNodes)
	mux.HandleFunc("POST /lab/require-auth", lab.serveRequireAuth)
	mux.HandleFunc("POST /lab/key-expiry", lab.serveKeyExpiry)
	mux.HandleFunc("POST /lab/complete-auth", lab.serveCompleteAuth)
	mux.HandleFunc("POST /lab/location", lab.serveLocation)
	mux.Handle("/", ctl)
	ctlLn, err := net.Listen("tcp", net.JoinHostPort(*addr, fmt.Sprint(*port)))
	if err != nil {
		log.Fatalf("tailscale-control: control: %v", err)
	}
	go func() { log.Fatal(http.Serve(ctlLn, mux)) }()
	go lab.loop()

	ready, _ := json.Marshal(map[string]string{
		"url": url, "derp": derpLn.Addr().String(), "stun": stun.LocalAddr().String(),
	})
	fmt.Println(string(ready))
	select {}
}

type labState struct {
	ctl     *testcontrol.Server
	mu      sync.Mutex
	offline map[string]bool // host name -> shown offline
	routes  map[key.NodePublic][]netip.Prefix
	suggest map[key.NodePublic]bool // the node keys given the suggest-exit-node attribute
	masqFor string                  // the node keys the masquerade pairs were made for
	// host name -> the Mullvad-like location the lab gave it (nil: the lab took it away again)
	locations map[string]*tailcfg.Location
}

const mullvadTag = "tag:mullvad-exit-node"

func (l *labState) serveLocation(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var loc *tailcfg.Location
	if q.Get("country") != "" {
		var prio int
		fmt.Sscan(q.Get("priority"), &prio)
		loc = &tailcfg.Location{Country: q.Get("country"), CountryCode: q.Get("cc"), City: q.Get("city"),
			CityCode: q.Get("citycode"), Priority: prio}
	}
	l.mu.Lock()
	l.locations[q.Get("host")] = loc
	l.mu.Unlock()
	fmt.Fprintln(w, "ok")
}

// located puts the lab's location (and the Mullvad tag) on n, or takes them off; whether n changed.
func (l *labState) located(n *tailcfg.Node) bool {
	want, ok := l.locations[n.Hostinfo.Hostname()]
	if !ok || !n.Hostinfo.Valid() {
		return false
	}
	have := n.Hostinfo.Location()
	if want == nil && !have.Valid() || want != nil && have.Valid() && *have.AsStruct() == *want {
		return false
	}
	hi := n.Hostinfo.AsStruct()
	hi.Location = want
	n.Hostinfo = hi.View()
	n.Tags = nil
	if want != nil {
		n.Tags = []string{mullvadTag}
	}
	return true
}

// seenAs is the address the other nodes see node id at.
func seenAs(id tailcfg.NodeID) netip.Addr {
	return netip.AddrFrom4([4]byte{100, 64, byte(1 + id>>8), byte(id)})
}

func (l *labState) serveNodes(w http.ResponseWriter, r *http.Request) {
	out := map[string]map[string]string{}
	for _, n := range l.ctl.AllNodes() {
		out[n.Hostinfo.Hostname()] = map[string]string{"self": n.Addresses[0].Addr().String(), "seen": seenAs(n.ID).String()}
	}
	json.NewEncoder(w).Encode(out)
}

// serveRequireAuth switches interactive login on or off for logins from now on. testcontrol reads the field
// under its own lock, which the lab cannot take: a plain bool written between logins.
func (l *labState) serveRequireAuth(w http.ResponseWriter, r *http.Request) {
	l.ctl.RequireAuth = r.URL.Query().Get("on") == "1"
	fmt.Fprintln(w, "ok")
}

func (l *labState) serveKeyExpiry(w http.ResponseWriter, r *http.Request) {
	in, err := time.ParseDuration(r.URL.Query().Get("in"))
	if err != nil {
		http.Error(w, "in=DURATION is required", http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	found := false
	for _, n := range l.ctl.AllNodes() { // every key of the host: a re-authentication leaves two for a while
		if n.Hostinfo.Hostname() == r.URL.Query().Get("host") {
			n.KeyExpiry = time.Now().Add(in).UTC().Truncate(time.Second)
			l.ctl.UpdateNode(n)
			found = true
		}
	}
	if !found {
		http.Error(w, "no such host", http.StatusNotFound)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (l *labState) serveCompleteAuth(w http.ResponseWriter, r *http.Request) {
	if !l.ctl.CompleteAuth(r.URL.Query().Get("url")) {
		http.Error(w, "no such auth URL", http.StatusNotFound)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (l *labState) serveOnline(w http.ResponseWriter, r *http.Request) {
	host := r.URL.Query().Get("host")
	if host == "" {
		http.Error(w, "host= is required", http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	l.offline[host] = r.URL.Query().Get("online") == "0"
	l.mu.Unlock()
	l.sync()
	fmt.Fprintln(w, "ok")
}

// loop keeps presence and approved routes in step with the nodes (testcontrol reads its fields under its own
// lock, so changes go through its setters; a node's Hostinfo arrives with its map requests).
func (l *labState) loop() {
	for {
		l.sync()
		time.Sleep(200 * time.Millisecond)
	}
}

func (l *labState) sync() {
	l.mu.Lock()
	defer l.mu.Unlock()
	nodes := l.ctl.AllNodes()
	var keys string
	for _, n := range nodes {
		keys += n.Key.String() + " "
	}
	if keys != l.masqFor {
		l.masqFor = keys
		var pairs []testcontrol.MasqueradePair
		for _, n := range nodes {
			for _, p := range nodes {
				if n.ID != p.ID {
					pairs = append(pairs, testcontrol.MasqueradePair{Node: n.Key, Peer: p.Key, NodeMasqueradesAs: seenAs(n.ID)})
				}
			}
		}
		l.ctl.SetMasqueradeAddresses(pairs)
	}
	for _, n := range nodes {
		if l.located(n) {
			l.ctl.UpdateNode(n)
		}
		name := n.Hostinfo.Hostname()
		online := !l.offline[name]
		if n.Online == nil || *n.Online != online {
			n.Online = &online
			n.LastSeen = nil
			if !online {
				now := time.Now().UTC().Truncate(time.Second)
				n.LastSeen = &now
			}
			l.ctl.UpdateNode(n)
		}
		var want []netip.Prefix
		if n.Hostinfo.Valid() {
			want = n.Hostinfo.RoutableIPs().AsSlice()
		}
		if have, ok := l.routes[n.Key]; !ok || !slices.Equal(want, have) {
			l.routes[n.Key] = want
			l.ctl.SetSubnetRoutes(n.Key, want)
		}
		if exit := slices.ContainsFunc(want, func(p netip.Prefix) bool { return p.Bits() == 0 }); exit && !l.suggest[n.Key] {
			l.suggest[n.Key] = true
			caps := maps.Clone(n.CapMap)
			if caps == nil {
				caps = tailcfg.NodeCapMap{}
			}
			caps[tailcfg.NodeAttrSuggestExitNode] = nil
			l.ctl.SetNodeCapMap(n.Key, caps)
		}
	}
}

func init() {
	log.SetFlags(0)
	log.SetOutput(os.Stderr)
}
