package balance

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/config"
)

// algos builds one fresh balancer per algorithm; random gets a fixed seed so
// every run sees the same draws.
func algos(t testing.TB) map[string]Balancer {
	t.Helper()
	m := map[string]Balancer{}
	for _, name := range config.ProxyBalances {
		b, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		m[name] = b
	}
	m["random"] = newRandomWithSource(rand.NewPCG(1, 2))
	return m
}

func up(key string, weight int) Server { return Server{Key: key, Weight: weight, Up: true} }

func TestNew(t *testing.T) {
	for _, name := range config.ProxyBalances {
		if b, err := New(name); err != nil || b == nil {
			t.Errorf("New(%q) = %v, %v", name, b, err)
		}
	}
	_, err := New("wlc")
	if err == nil {
		t.Fatal("New(wlc): no error")
	}
	for _, name := range append([]string{`"wlc"`}, config.ProxyBalances...) {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not mention %s", err, name)
		}
	}
}

// TestRules checks the selection rules every algorithm shares, case by case.
func TestRules(t *testing.T) {
	down := func(key string) Server { return Server{Key: key, Weight: 1} }
	backup := func(key string, w int) Server { return Server{Key: key, Weight: w, Up: true, Backup: true} }
	cases := []struct {
		name    string
		servers []Server
		allowed []int // indices that may be picked; empty means -1
	}{
		{"no servers", nil, nil},
		{"all down", []Server{down("a"), down("b")}, nil},
		{"all weight 0", []Server{up("a", 0), up("b", 0)}, nil},
		{"negative weight", []Server{up("a", -1)}, nil},
		{"single", []Server{up("a", 1)}, []int{0}},
		{"skip down", []Server{down("a"), up("b", 1), down("c")}, []int{1}},
		{"skip weight 0", []Server{up("a", 0), up("b", 2), up("c", 0)}, []int{1}},
		{"primaries before backups", []Server{backup("x", 5), up("a", 1), backup("y", 5)}, []int{1}},
		{"backups when primaries down", []Server{down("a"), backup("x", 1), backup("y", 1)}, []int{1, 2}},
		{"backups when primaries weight 0", []Server{up("a", 0), backup("x", 1)}, []int{1}},
		{"down backup skipped", []Server{down("a"), {Key: "x", Weight: 1, Backup: true}, backup("y", 1)}, []int{2}},
		{"only down backups", []Server{down("a"), {Key: "x", Weight: 1, Backup: true}}, nil},
	}
	for name, b := range algos(t) {
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				seen := map[int]int{}
				for i := range 400 {
					got := b.Pick(c.servers, fmt.Appendf(nil, "10.1.%d.%d", i/256, i%256))
					seen[got]++
				}
				if len(c.allowed) == 0 {
					if len(seen) != 1 || seen[-1] == 0 {
						t.Fatalf("picks %v, want only -1", seen)
					}
					return
				}
				for got := range seen {
					if !contains(c.allowed, got) {
						t.Fatalf("picked %d (%v), allowed %v", got, seen, c.allowed)
					}
				}
				// Every usable server of the tier must take some traffic:
				// all backups are balanced, not just the first.
				for _, i := range c.allowed {
					if seen[i] == 0 {
						t.Errorf("server %d never picked: %v", i, seen)
					}
				}
			})
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRulesRandomized throws random server sets (state changing between
// every call) at every algorithm and checks the invariants: no panic, -1
// exactly when nothing is usable, otherwise a usable server of the right tier.
func TestRulesRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for name, b := range algos(t) {
		t.Run(name, func(t *testing.T) {
			for range 5000 {
				n := rng.IntN(8)
				servers := make([]Server, n)
				for i := range servers {
					servers[i] = Server{
						Key:    fmt.Sprint("s", rng.IntN(12)), // duplicates and churn on purpose
						Weight: rng.IntN(4),
						Active: rng.IntN(5),
						Up:     rng.IntN(4) != 0,
						Backup: rng.IntN(3) == 0,
					}
				}
				got := b.Pick(servers, []byte{byte(rng.IntN(256))})
				wantBackup, any := tier(servers)
				if !any {
					if got != -1 {
						t.Fatalf("%+v: picked %d, want -1", servers, got)
					}
					continue
				}
				if got < 0 || got >= n || !eligible(&servers[got], wantBackup) {
					t.Fatalf("%+v: picked %d, not a usable server of the right tier", servers, got)
				}
			}
		})
	}
}

// TestDistribution checks weights 3:1 over 10000 picks.
func TestDistribution(t *testing.T) {
	servers := func() []Server { return []Server{up("a", 3), up("b", 1)} }
	const picks = 10000
	t.Run("roundrobin exact", func(t *testing.T) {
		b, _ := New("roundrobin")
		s := servers()
		var n [2]int
		for range picks {
			n[b.Pick(s, nil)]++
		}
		if n != [2]int{7500, 2500} {
			t.Fatalf("got %v, want exactly [7500 2500]", n)
		}
	})
	within := func(t *testing.T, n [2]int) {
		t.Helper()
		// 3 standard deviations of a binomial(10000, 0.75) is about 130.
		if n[0] < 7300 || n[0] > 7700 {
			t.Fatalf("got %v, want about [7500 2500]", n)
		}
	}
	for _, name := range []string{"source", "uri"} {
		t.Run(name, func(t *testing.T) {
			b, _ := New(name)
			s := servers()
			var n [2]int
			for i := range picks {
				n[b.Pick(s, fmt.Appendf(nil, "198.51.%d.%d", i/256, i%256))]++
			}
			within(t, n)
		})
	}
	t.Run("random idle", func(t *testing.T) {
		// With no load the weighted draw alone decides.
		b := newRandomWithSource(rand.NewPCG(3, 4))
		s := servers()
		var n [2]int
		for range picks {
			n[b.Pick(s, nil)]++
		}
		within(t, n)
	})
	// leastconn and random under load: connections open on pick and finish
	// at random (each in-flight connection equally likely), so the picks
	// follow the weights only if the balancer keeps load per weight level.
	for _, name := range []string{"leastconn", "random"} {
		t.Run(name+" loaded", func(t *testing.T) {
			b := algos(t)[name]
			rng := rand.New(rand.NewPCG(5, 6))
			s := servers()
			var n [2]int
			for range picks {
				i := b.Pick(s, nil)
				n[i]++
				s[i].Active++
				if total := s[0].Active + s[1].Active; total > 40 {
					if rng.IntN(total) < s[0].Active {
						s[0].Active--
					} else {
						s[1].Active--
					}
				}
			}
			within(t, n)
		})
	}
}

func TestRoundRobinSmooth(t *testing.T) {
	b, _ := New("roundrobin")
	s := []Server{up("a", 5), up("b", 1), up("c", 1)}
	var got strings.Builder
	for range 14 {
		got.WriteString(s[b.Pick(s, nil)].Key)
	}
	// nginx's documented sequence for weights 5,1,1, twice.
	if want := "aabacaa" + "aabacaa"; got.String() != want {
		t.Fatalf("sequence %s, want %s", got.String(), want)
	}
}

func TestRoundRobinMembershipChange(t *testing.T) {
	b, _ := New("roundrobin")
	all := []Server{up("a", 1), up("b", 1), up("c", 1)}
	for range 5 {
		b.Pick(all, nil)
	}
	// b removed, list reordered: a and c share evenly. They keep their
	// scores (as in nginx), so the split is exact up to that offset.
	s := []Server{up("c", 1), up("a", 1)}
	count := map[string]int{}
	for range 1000 {
		count[s[b.Pick(s, nil)].Key]++
	}
	if d := count["a"] - count["c"]; d < -3 || d > 3 {
		t.Fatalf("after removal: %v", count)
	}
	// b returns with weight 2 and starts fresh: exact shares per cycle of 4.
	s = []Server{up("a", 1), up("b", 2), up("c", 1)}
	count = map[string]int{}
	for range 400 {
		count[s[b.Pick(s, nil)].Key]++
	}
	if count["b"] < 199 || count["b"] > 201 || count["a"] < 99 || count["a"] > 101 {
		t.Fatalf("after return: %v", count)
	}
}

func TestRoundRobinForgetsRemovedServers(t *testing.T) {
	b := newRoundRobin()
	for i := range 10000 {
		s := []Server{up(fmt.Sprint("old", i), 1), up(fmt.Sprint("new", i), 1), up("stay", 1)}
		b.Pick(s, nil)
	}
	if n := len(b.state); n > 2*3+16+1 {
		t.Fatalf("state holds %d keys after churn; want it bounded", n)
	}
}

func TestLeastConn(t *testing.T) {
	cases := []struct {
		name    string
		servers []Server
		want    int
	}{
		{"fewest", []Server{{Key: "a", Weight: 1, Active: 5, Up: true}, {Key: "b", Weight: 1, Active: 2, Up: true}, {Key: "c", Weight: 1, Active: 3, Up: true}}, 1},
		{"per weight", []Server{{Key: "a", Weight: 4, Active: 4, Up: true}, {Key: "b", Weight: 1, Active: 2, Up: true}}, 0},
		{"heavier wins ratio", []Server{{Key: "a", Weight: 1, Active: 1, Up: true}, {Key: "b", Weight: 3, Active: 2, Up: true}}, 1},
		{"down ignored", []Server{{Key: "a", Weight: 1, Active: 0}, {Key: "b", Weight: 1, Active: 9, Up: true}}, 1},
		{"large counts", []Server{{Key: "a", Weight: 65535, Active: 1 << 30, Up: true}, {Key: "b", Weight: 1, Active: 1 << 13, Up: true}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := New("leastconn")
			if got := b.Pick(c.servers, nil); got != c.want {
				t.Fatalf("picked %d, want %d", got, c.want)
			}
		})
	}
}

func TestLeastConnTiesRotate(t *testing.T) {
	b, _ := New("leastconn")
	s := []Server{up("a", 1), up("b", 1), up("c", 1)}
	var got strings.Builder
	for range 6 {
		got.WriteString(s[b.Pick(s, nil)].Key)
	}
	if got.String() != "abcabc" {
		t.Fatalf("equal load: %s, want abcabc", got.String())
	}
	// A loaded server is skipped; the tied ones still alternate.
	s[1].Active = 5
	got.Reset()
	for range 4 {
		got.WriteString(s[b.Pick(s, nil)].Key)
	}
	if got.String() != "acac" {
		t.Fatalf("with b loaded: %s, want acac", got.String())
	}
	// The rotation resumes after the last pick's key wherever it now is
	// (c moved from last to first), not after its old position.
	s = []Server{up("c", 1), up("a", 1), up("b", 1)}
	if k := s[b.Pick(s, nil)].Key; k != "a" {
		t.Fatalf("after reorder picked %s, want a (the one after c)", k)
	}
}

func clientIP(i int) []byte { return fmt.Appendf(nil, "203.0.%d.%d", i/256%256, i%256) }

func TestHashStable(t *testing.T) {
	for _, name := range []string{"source", "uri"} {
		b, _ := New(name)
		s := []Server{up("10.0.0.1:80", 1), up("10.0.0.2:80", 2), up("10.0.0.3:80", 1)}
		for i := range 1000 {
			k := clientIP(i)
			first := b.Pick(s, k)
			for range 3 {
				if got := b.Pick(s, k); got != first {
					t.Fatalf("%s: key %s went to %d then %d", name, k, first, got)
				}
			}
		}
		// Order of the list does not matter, only keys do.
		r := []Server{s[2], s[0], s[1]}
		for i := range 1000 {
			k := clientIP(i)
			if s[b.Pick(s, k)].Key != r[b.Pick(r, k)].Key {
				t.Fatalf("%s: key %s depends on list order", name, k)
			}
		}
	}
}

// TestHashGolden pins the mapping: all vigil nodes, and all releases, must
// send a client to the same backend, so a change here breaks stickiness
// across a VIP failover during an upgrade.
func TestHashGolden(t *testing.T) {
	b, _ := New("source")
	s := []Server{up("10.0.0.1:80", 1), up("10.0.0.2:80", 1), up("10.0.0.3:80", 1)}
	w := []Server{up("10.0.0.1:80", 1), up("10.0.0.2:80", 5), up("10.0.0.3:80", 2)}
	var got, gotW strings.Builder
	for i := range 16 {
		fmt.Fprint(&got, b.Pick(s, clientIP(i)))
		fmt.Fprint(&gotW, b.Pick(w, clientIP(i)))
	}
	const want, wantW = "1200222110000122", "1200211110110111"
	if got.String() != want || gotW.String() != wantW {
		t.Fatalf("mapping changed: %s %s, was %s %s", got.String(), gotW.String(), want, wantW)
	}
}

// TestHashConsistency removes one of ten servers: only its keys may move.
func TestHashConsistency(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		t.Run(fmt.Sprint("weighted=", weighted), func(t *testing.T) {
			b, _ := New("source")
			var s []Server
			for i := range 10 {
				w := 10
				if weighted {
					w = 5 + i*3
				}
				s = append(s, up(fmt.Sprintf("10.0.0.%d:80", i+1), w))
			}
			const keys = 10000
			before := make([]string, keys)
			for i := range keys {
				before[i] = s[b.Pick(s, clientIP(i))].Key
			}
			for _, how := range []string{"removed", "down", "weight 0"} {
				victim := s[3].Key
				var after []Server
				switch how {
				case "removed":
					after = append(append([]Server{}, s[:3]...), s[4:]...)
				case "down":
					after = append([]Server{}, s...)
					after[3].Up = false
				case "weight 0":
					after = append([]Server{}, s...)
					after[3].Weight = 0
				}
				moved, onVictim := 0, 0
				for i := range keys {
					got := after[b.Pick(after, clientIP(i))].Key
					if before[i] == victim {
						onVictim++
						if got == victim {
							t.Fatalf("%s: key %d stayed on the removed server", how, i)
						}
					}
					if got != before[i] {
						moved++
						if before[i] != victim {
							t.Fatalf("%s: key %d moved from %s to %s though its server stayed", how, i, before[i], got)
						}
					}
				}
				if frac := float64(moved) / keys; frac >= 0.15 {
					t.Fatalf("%s: %.1f%% of keys moved, want < 15%%", how, 100*frac)
				}
				if moved != onVictim {
					t.Fatalf("%s: moved %d, victim held %d", how, moved, onVictim)
				}
				// Back to the original membership: every key returns.
				for i := range keys {
					if got := s[b.Pick(s, clientIP(i))].Key; got != before[i] {
						t.Fatalf("%s: key %d did not return to %s after recovery", how, i, before[i])
					}
				}
			}
		})
	}
}

func TestRandom(t *testing.T) {
	t.Run("deterministic with a seeded source", func(t *testing.T) {
		a := newRandomWithSource(rand.NewPCG(9, 9))
		b := newRandomWithSource(rand.NewPCG(9, 9))
		s := []Server{up("a", 1), up("b", 2), up("c", 3)}
		for i := range 1000 {
			if x, y := a.Pick(s, nil), b.Pick(s, nil); x != y {
				t.Fatalf("pick %d: %d vs %d", i, x, y)
			}
		}
	})
	t.Run("prefers the less loaded of two", func(t *testing.T) {
		b := newRandomWithSource(rand.NewPCG(1, 1))
		s := []Server{{Key: "a", Weight: 1, Active: 100, Up: true}, {Key: "b", Weight: 1, Up: true}}
		n := 0
		for range 10000 {
			if b.Pick(s, nil) == 1 {
				n++
			}
		}
		// b loses only when both draws are a: 1/4 of the time.
		if n < 7300 || n > 7700 {
			t.Fatalf("idle server won %d of 10000, want about 7500", n)
		}
	})
	t.Run("default source", func(t *testing.T) {
		b, _ := New("random")
		s := []Server{up("a", 1), up("b", 1)}
		var n [2]int
		for range 1000 {
			n[b.Pick(s, nil)]++
		}
		if n[0] == 0 || n[1] == 0 {
			t.Fatalf("%v", n)
		}
	})
}

func TestSlowstartWeight(t *testing.T) {
	const ss = 10 * time.Second
	cases := []struct {
		weight     int
		since, ss_ time.Duration
		want       int
	}{
		{100, 0, ss, 5},                // starts at weight/20
		{10, 0, ss, 1},                 // at least 1
		{1, 0, ss, 1},                  // weight 1 cannot ramp
		{100, 5 * time.Second, ss, 53}, // halfway: ceil(100*(1+9.5)/20)
		{100, ss - 1, ss, 100},
		{100, ss, ss, 100},
		{100, time.Hour, ss, 100},
		{100, -time.Second, ss, 5}, // clock stepped back: start of the ramp
		{100, 0, 0, 100},           // slowstart off
		{100, 0, -ss, 100},
		{0, 0, ss, 0}, // weight 0 stays 0 (drain)
		{-3, 0, ss, 0},
		{256 * 16, 1, 365 * 24 * time.Hour, 205}, // huge durations do not overflow
	}
	for _, c := range cases {
		if got := SlowstartWeight(c.weight, c.since, c.ss_); got != c.want {
			t.Errorf("SlowstartWeight(%d, %v, %v) = %d, want %d", c.weight, c.since, c.ss_, got, c.want)
		}
	}
	prev := 0
	for ms := 0; ms <= 11000; ms += 7 {
		w := SlowstartWeight(4096, time.Duration(ms)*time.Millisecond, ss)
		if w < prev || w < 1 || w > 4096 {
			t.Fatalf("not a monotonic ramp at %dms: %d after %d", ms, w, prev)
		}
		prev = w
	}
}

// TestConcurrentPicks is meant for go test -race: one balancer, many
// goroutines. Round robin must stay exact under contention.
func TestConcurrentPicks(t *testing.T) {
	const workers, each = 8, 2000
	for name, b := range algos(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := []Server{up("a", 3), up("b", 1), {Key: "c", Weight: 1, Up: true, Backup: true}}
			var mu sync.Mutex
			var total [3]int
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					var n [3]int
					for i := range each {
						n[b.Pick(s, clientIP(w*each+i))]++
					}
					mu.Lock()
					for i := range n {
						total[i] += n[i]
					}
					mu.Unlock()
				})
			}
			wg.Wait()
			if total[2] != 0 || total[0]+total[1] != workers*each {
				t.Fatalf("%v", total)
			}
			if name == "roundrobin" && total != [3]int{12000, 4000, 0} {
				t.Fatalf("roundrobin under contention: %v, want [12000 4000 0]", total)
			}
		})
	}
}

func benchServers() []Server {
	s := make([]Server, 10)
	for i := range s {
		s[i] = Server{Key: fmt.Sprintf("10.0.0.%d:8080", i+1), Weight: 1 + i%3, Active: i * 7 % 5, Up: true}
	}
	return s
}

func BenchmarkPick(b *testing.B) {
	key := []byte("192.0.2.77")
	for _, name := range config.ProxyBalances {
		b.Run(name, func(b *testing.B) {
			bal, _ := New(name)
			s := benchServers()
			b.ReportAllocs()
			for b.Loop() {
				bal.Pick(s, key)
			}
		})
	}
	b.Run("source-equal-weights", func(b *testing.B) {
		bal, _ := New("source")
		s := benchServers()
		for i := range s {
			s[i].Weight = 1
		}
		b.ReportAllocs()
		for b.Loop() {
			bal.Pick(s, key)
		}
	})
}

func BenchmarkPickParallel(b *testing.B) {
	key := []byte("192.0.2.77")
	for _, name := range config.ProxyBalances {
		b.Run(name, func(b *testing.B) {
			bal, _ := New(name)
			s := benchServers()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bal.Pick(s, key)
				}
			})
		})
	}
}
