// Command benchtable reads `go test -bench` output (several -count runs)
// on stdin and prints one table of medians, then each performance target of
// the project with the ratio it asks for and whether this run met it.
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
const rootPkg = "github.com/apitoken/apitoken"

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func main() {
	samples := map[string]map[string][]float64{} // name -> unit -> values
	var order []string
	var pkg string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "pkg: "); ok {
			pkg = p
		}
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := strings.TrimPrefix(m[1], "Benchmark")
		if pkg == rootPkg { // its BenchmarkVerifyHot is not bench's
			name = "apitoken." + name
		}
		if samples[name] == nil {
			samples[name] = map[string][]float64{}
			order = append(order, name)
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				samples[name][f[i+1]] = append(samples[name][f[i+1]], v)
			}
		}
	}
	med := func(name, unit string) (float64, bool) {
		vs := slices.Clone(samples[name][unit])
		if len(vs) == 0 {
			return 0, false
		}
		slices.Sort(vs)
		return vs[len(vs)/2], true
	}
	fmt.Printf("%-44s %14s %10s %10s  %s\n", "benchmark (median)", "ns/op", "B/op", "allocs/op", "other")
	for _, n := range order {
		ns, _ := med(n, "ns/op")
		b, _ := med(n, "B/op")
		a, _ := med(n, "allocs/op")
		var other []string
		for unit := range samples[n] {
			if unit != "ns/op" && unit != "B/op" && unit != "allocs/op" {
				v, _ := med(n, unit)
				other = append(other, fmt.Sprintf("%.4g %s", v, unit))
			}
		}
		slices.Sort(other)
		fmt.Printf("%-44s %14.1f %10.0f %10.0f  %s\n", n, ns, b, a, strings.Join(other, ", "))
	}
	fmt.Println()
	fmt.Printf("%-62s %12s %10s  %s\n", "target", "this run", "goal", "")
	ratio := func(what, fast, slow string, goal float64) {
		f, ok1 := med(fast, "ns/op")
		s, ok2 := med(slow, "ns/op")
		report(what, ok1 && ok2, s/f, goal, true, "x")
	}
	atMost := func(what, a, b string, goal float64) {
		x, ok1 := med(a, "ns/op")
		y, ok2 := med(b, "ns/op")
		report(what, ok1 && ok2, x/y, goal, false, "x")
	}
	ratio("Verify hot vs golang-jwt HS256 (faster by)", "VerifyHot", "JWTHS256", 15)
	allocs, ok := med("VerifyHot", "allocs/op")
	report("Verify hot allocations", ok, allocs, 0, false, "")
	atMost("Verify hot vs keyed hash + map floor (at most)", "VerifyHot", "FloorKeyedHashMap", 2)
	atMost("  (also: vs SHA-256 + map, the cache key's own floor)", "VerifyHot", "FloorSHA256Map", 2)
	ratio("Verify random over 1M cached vs golang-jwt HS256 (faster by)", "VerifyRandom1MCached", "JWTHS256", 6)
	atMost("Full GC, 1M cached tokens vs pointer-free map (at most)", "apitoken.GCCache/cache-1M", "apitoken.GCCache/pointer-free-map-1M", 2)
	atMost("  (also: whole process with the memstore's 1M records)", "GCWith1MCached", "apitoken.GCCache/pointer-free-map-1M", 2)
	touch, ok := med("apitoken.LastUsedTouch/serial", "ns/op")
	report("Last-used tracking per verification (ns)", ok, touch, 150, false, "")
	touch, ok = med("apitoken.LastUsedTouch/parallel", "ns/op")
	report("  (also: every P on one hot token)", ok, touch, 150, false, "")
	inter, ok := med("ColdVerify/tokens=1000000/Interleaved", "verify/bare")
	report("Verify cold on bolt, 1M tokens, vs bare View+Get (at most)", ok, inter, 1.5, false, "x")
	atMost("  (also: the separate runs, one after the other)", "ColdVerify/tokens=1000000/Verify", "ColdVerify/tokens=1000000/BareViewGet", 1.5)
	ratio("Full middleware path vs scs LoadAndSave on bbolt (faster by)", "MiddlewareOurs", "MiddlewareSCS", 10)
	tps, ok := med("Issue16", "tokens/s")
	report("Issuance on bolt, 16 callers, fsync on (tokens/s)", ok, tps, 2000, true, "")
	fb, ok := med("ColdVerify/tokens=1000000/Verify", "file-bytes/token")
	report("Bolt file bytes per token at 1M", ok, fb, 400, false, "")
	fmt.Println("(HTTP throughput with authentication: bench/http.sh)")
}

// report prints one target: atLeast says whether the goal is a floor.
func report(what string, ok bool, v, goal float64, atLeast bool, unit string) {
	if !ok {
		fmt.Printf("%-62s %12s %10s  %s\n", what, "-", "", "not run")
		return
	}
	met := v <= goal
	cmp := "<="
	if atLeast {
		met, cmp = v >= goal, ">="
	}
	verdict := "met"
	if !met {
		verdict = "NOT MET"
	}
	fmt.Printf("%-62s %11.2f%s %7s%g%s  %s\n", what, v, unit, cmp, goal, unit, verdict)
}
