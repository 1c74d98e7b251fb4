package apitoken_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxExported is the ceiling on the root package's exported identifiers:
// constants, variables, functions and types as go/doc lists them (methods
// and struct fields are not counted). The root package is the token layer;
// a new name that pushes the count over the ceiling belongs in a
// sub-package or under internal/.
const maxExported = 70

// exportedNames lists the root package's exported top-level identifiers.
func exportedNames(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "apitoken" {
			files = append(files, f)
		}
	}
	d, err := doc.NewFromFiles(fset, files, "github.com/apitoken/apitoken")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	addValues := func(vs []*doc.Value) {
		for _, v := range vs {
			names = append(names, v.Names...)
		}
	}
	addValues(d.Consts)
	addValues(d.Vars)
	for _, f := range d.Funcs {
		names = append(names, f.Name)
	}
	for _, ty := range d.Types {
		names = append(names, ty.Name)
		addValues(ty.Consts)
		addValues(ty.Vars)
		for _, f := range ty.Funcs { // constructors such as New
			names = append(names, f.Name)
		}
	}
	kept := names[:0]
	for _, n := range names {
		if ast.IsExported(n) {
			kept = append(kept, n)
		}
	}
	sort.Strings(kept)
	return kept
}

func TestTheRootPackageExportsAFewNames(t *testing.T) {
	names := exportedNames(t)
	t.Logf("%d exported identifiers: %s", len(names), strings.Join(names, " "))
	if len(names) > maxExported {
		t.Errorf("the root package exports %d identifiers, more than %d", len(names), maxExported)
	}
}
