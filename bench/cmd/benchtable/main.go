// Command benchtable reads `go test -bench` output (several -count runs,
// several packages) on stdin and prints Markdown tables for
// docs/performance.md: the library's own timings (medians); every
// comparison with a peer, from the interleaved benchmarks only (those
// reporting ours-ns, peer-ns and ratio, and bolt's ColdVerify
// Interleaved), with the spread of the ratio over the runs; the tail
// latency under mixed load (BenchmarkVerifyTail), one row per run; and
// the HTTP path at a constant rate (BenchmarkHTTPConstantRate). Each
// target is marked met or NOT MET as this run measured it.
//
// No ratio is computed between two separate benchmarks: those ran at
// different moments of a shared machine and their ratios are not
// trustworthy.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// line matches "BenchmarkName-2   1234   567 ns/op   8 B/op ..." and keeps
// the name without the GOMAXPROCS suffix and the metric pairs.
var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// run is one result line: metric unit -> value.
type run map[string]float64

type results struct {
	runs  map[string][]run // "pkg.Name" -> one per -count
	order []string
}

// short names packages in the tables.
func short(pkg string) string {
	pkg = strings.TrimPrefix(pkg, "github.com/apitoken/apitoken")
	pkg = strings.TrimPrefix(pkg, "/")
	if pkg == "" {
		return "apitoken"
	}
	return pkg
}

func main() {
	r := results{runs: map[string][]run{}}
	var pkg string
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "pkg: "); ok {
			pkg = short(p)
		}
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := pkg + "." + strings.TrimPrefix(m[1], "Benchmark")
		if r.runs[name] == nil {
			r.order = append(r.order, name)
		}
		one := run{}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				one[f[i+1]] = v
			}
		}
		r.runs[name] = append(r.runs[name], one)
	}
	r.library()
	r.peers()
	r.tail()
	r.http()
}

// values returns the values of unit over the runs of name.
func (r *results) values(name, unit string) []float64 {
	var vs []float64
	for _, x := range r.runs[name] {
		if v, ok := x[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

func median(vs []float64) float64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// special reports whether name belongs to a table of its own.
func special(name string, x run) bool {
	_, ratio := x["ratio"]
	_, inter := x["verify/bare"]
	_, tail := x["p99-ns"]
	return ratio || inter || tail || strings.Contains(name, "HTTPConstantRate")
}

func (r *results) library() {
	if !slices.ContainsFunc(r.order, func(n string) bool { return !special(n, r.runs[n][0]) }) {
		return
	}
	fmt.Println("### The library (medians)")
	fmt.Println()
	fmt.Println("| benchmark | time/op | B/op | allocs/op | other |")
	fmt.Println("| --- | ---: | ---: | ---: | --- |")
	for _, n := range r.order {
		if special(n, r.runs[n][0]) {
			continue
		}
		var other []string
		for unit := range r.runs[n][0] {
			if unit != "ns/op" && unit != "B/op" && unit != "allocs/op" {
				other = append(other, fmt.Sprintf("%.4g %s", median(r.values(n, unit)), unit))
			}
		}
		slices.Sort(other)
		cell := func(unit string, f func(float64) string) string {
			if vs := r.values(n, unit); len(vs) > 0 {
				return f(median(vs))
			}
			return ""
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", n, cell("ns/op", dur),
			cell("B/op", func(v float64) string { return fmt.Sprintf("%.0f", v) }),
			cell("allocs/op", func(v float64) string { return fmt.Sprintf("%.0f", v) }), strings.Join(other, ", "))
	}
	fmt.Println()
}

// dur formats nanoseconds.
func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

// peer is one interleaved comparison and its target: at least goal
// times faster than the peer (faster), or at most goal times the peer
// (!faster; used for floors and bare reads).
type peer struct {
	what, name string
	goal       float64
	faster     bool
}

var peerTargets = []peer{
	{"Verify, hot, vs golang-jwt v5 HS256", "bench.VsJWTHS256", 15, true},
	{"Verify, hot, vs golang-jwt v5 EdDSA", "bench.VsJWTEdDSA", 0, true},
	{"Verify, hot, vs PASETO v4 local", "bench.VsPASETOv4Local", 0, true},
	{"Verify, random over 1M cached, vs HS256", "bench.VsJWTHS256Random1MCached", 6, true},
	{"Guard's full path vs scs LoadAndSave on bbolt", "bench.VsSCSMiddleware", 10, true},
	{"Verify, hot, vs keyed hash + map floor (at most)", "bench.VsFloorKeyedHashMap", 2, false},
	{"Verify, hot, vs SHA-256 + map floor (at most)", "bench.VsFloorSHA256Map", 2, false},
	{"Verify, cache off, bolt 1M, vs bare View+Get (at most)", "bolt.ColdVerify/tokens=1000000/Interleaved", 1.5, false},
}

func (r *results) peers() {
	if !slices.ContainsFunc(peerTargets, func(p peer) bool { return len(r.runs[p.name]) > 0 }) {
		return
	}
	fmt.Println("### Beside the peers (interleaved: both sides alternate within each iteration)")
	fmt.Println()
	fmt.Println("| comparison | ours | peer | allocs ours / peer | ratio (median; range over runs) | target |")
	fmt.Println("| --- | ---: | ---: | ---: | --- | --- |")
	for _, p := range peerTargets {
		oursUnit, peerUnit, ratioUnit := "ours-ns", "peer-ns", "ratio"
		if strings.HasPrefix(p.name, "bolt.") {
			oursUnit, peerUnit, ratioUnit = "verify-ns/op", "bare-ns/op", "verify/bare"
		}
		ratios := r.values(p.name, ratioUnit)
		if len(ratios) == 0 {
			fmt.Printf("| %s | | | | not run | |\n", p.what)
			continue
		}
		if !p.faster && ratioUnit == "ratio" { // ratio is peer/ours; the target is ours/peer
			for i, v := range ratios {
				ratios[i] = 1 / v
			}
		}
		med := median(ratios)
		lo, hi := slices.Min(ratios), slices.Max(ratios)
		allocs := ""
		if a := r.values(p.name, "ours-allocs"); len(a) > 0 {
			allocs = fmt.Sprintf("%.0f / %.0f", median(a), median(r.values(p.name, "peer-allocs")))
		}
		verdict := ""
		switch {
		case p.goal == 0:
		case p.faster && med >= p.goal, !p.faster && med <= p.goal:
			verdict = fmt.Sprintf("%s %gx: met", map[bool]string{true: "≥", false: "≤"}[p.faster], p.goal)
		default:
			verdict = fmt.Sprintf("%s %gx: NOT MET", map[bool]string{true: "≥", false: "≤"}[p.faster], p.goal)
		}
		word := "faster"
		if !p.faster {
			word = "the peer's time"
		}
		fmt.Printf("| %s | %s | %s | %s | %.2fx %s (%.2f–%.2f, %d runs) | %s |\n", p.what,
			dur(median(r.values(p.name, oursUnit))), dur(median(r.values(p.name, peerUnit))), allocs,
			med, word, lo, hi, len(ratios), verdict)
	}
	fmt.Println()
}

func (r *results) tail() {
	name := "bench.VerifyTail"
	if len(r.runs[name]) == 0 {
		return
	}
	fmt.Println("### Tail latency under mixed load (BenchmarkVerifyTail; one row per run)")
	fmt.Println()
	fmt.Println("| run | p50 | p99 | p99.9 | max | floor p99.9 | floor max | verifications/s | issued/s | revoked/s | GCs |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, x := range r.runs[name] {
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %.0f | %.0f |\n", i+1, dur(x["p50-ns"]), dur(x["p99-ns"]),
			dur(x["p999-ns"]), dur(x["max-ns"]), dur(x["floor-p999-ns"]), dur(x["floor-max-ns"]),
			x["verifies/s"], x["issued/s"], x["revoked/s"], x["gcs"])
	}
	worst := func(unit string) float64 { return slices.Max(r.values(name, unit)) }
	fmt.Println()
	fmt.Printf("Targets (worst run): p99 ≤ 5 µs: %s; p99.9 ≤ 50 µs: %s; max ≤ 2 ms: %s.\n",
		verdict(worst("p99-ns") <= 5e3), verdict(worst("p999-ns") <= 50e3), verdict(worst("max-ns") <= 2e6))
	fmt.Printf("The floor (the same verifiers timing a few random reads of 64 MiB after each verification), worst run: p99.9 %s, max %s.\n\n",
		dur(worst("floor-p999-ns")), dur(worst("floor-max-ns")))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func (r *results) http() {
	name := "bench.HTTPConstantRate"
	if len(r.runs[name]) == 0 {
		return
	}
	for i, x := range r.runs[name] {
		fmt.Printf("### HTTP at a constant rate (BenchmarkHTTPConstantRate, run %d: %.0f requests/s per side", i+1, x["req/s"])
		if v, ok := x["none-max-req/s"]; ok {
			fmt.Printf(", half of the %.0f measured without authentication", v)
		}
		fmt.Println(")")
		fmt.Println()
		fmt.Println("| side | p50 | p90 | p99 | max |")
		fmt.Println("| --- | ---: | ---: | ---: | ---: |")
		for _, side := range []string{"none", "guard", "jwtauth", "scs"} {
			fmt.Printf("| %s | %s | %s | %s | %s |\n", side, dur(x[side+"-p50-ns"]), dur(x[side+"-p90-ns"]),
				dur(x[side+"-p99-ns"]), dur(x[side+"-max-ns"]))
		}
		o := x["guard-p99-overhead"]
		fmt.Printf("\nThe Guard's p99 over no authentication: %+.1f%% (target ≤ +10%%: %s).\n\n", 100*o, verdict(o <= 0.10))
	}
}
