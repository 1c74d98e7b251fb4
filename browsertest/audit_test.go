package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/apitoken/apitoken/storetest"
)

// Screenshots and the accessibility audit: every main state of the page is
// shot at a desktop and a phone width, in the light and the dark colour
// scheme, and audited in the same page with axe-core (from npm, installed
// in this directory by `npm ci`), which must find no serious or critical
// violation.

// widths and schemes are the variants of every state.
var (
	widths  = []int64{1280, 390}
	schemes = []string{"light", "dark"}
)

// axeSource reads axe-core's script or skips (fails under
// APITOKEN_REQUIRE_BROWSER, as CI sets).
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		storetest.SkipUnlessRequired(t, "APITOKEN_REQUIRE_BROWSER", "no axe-core: run `npm ci` in browsertest to run the accessibility audit")
	}
	return string(b)
}

// shooter saves numbered screenshots of the main states and audits each.
type shooter struct {
	t      *testing.T
	dir    string
	axe    string
	n      int
	saved  []string
	audits int
}

// violation is one serious or critical axe-core finding.
type violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// setScheme emulates prefers-color-scheme.
func setScheme(scheme string) chromedp.Action {
	return emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}})
}

// state shoots the current page at every width and scheme, audits each
// variant with axe-core, and returns to 1280 px, light.
func (s *shooter) state(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		s.n++
		for _, w := range widths {
			for _, scheme := range schemes {
				if err := chromedp.Run(ctx, chromedp.EmulateViewport(w, 900), setScheme(scheme)); err != nil {
					return err
				}
				var png []byte
				if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
					return err
				}
				file := fmt.Sprintf("%02d-%s-%d-%s.png", s.n, name, w, scheme)
				if err := os.WriteFile(filepath.Join(s.dir, file), png, 0o644); err != nil {
					return err
				}
				s.saved = append(s.saved, file)
				found, err := s.audit(ctx)
				if err != nil {
					return err
				}
				s.audits++
				for _, v := range found {
					s.t.Errorf("axe-core, %s at %d px, %s: %s %s (%s) at %s", name, w, scheme, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, ", "))
				}
			}
		}
		s.t.Logf("state %q: 4 screenshots, axe-core audited", name)
		return chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900), setScheme("light"))
	})
}

// audit runs axe-core in the page (injecting it first if this document
// has not got it) and returns its serious and critical violations.
func (s *shooter) audit(ctx context.Context) ([]violation, error) {
	var loaded bool
	if err := chromedp.Evaluate(`typeof axe !== "undefined"`, &loaded).Do(ctx); err != nil {
		return nil, err
	}
	if !loaded {
		if err := chromedp.Evaluate(s.axe, nil).Do(ctx); err != nil {
			return nil, fmt.Errorf("injecting axe-core: %w", err)
		}
	}
	var found []violation
	err := chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))`,
		&found, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }).Do(ctx)
	return found, err
}
