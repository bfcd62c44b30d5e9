package kinesin_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/polling"
)

// optionFuncs returns the exported functions of the package in dir (its
// non-test files) that return one of the named option types.
func optionFuncs(t *testing.T, dir string, types ...string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fn.Type.Results.List[0].Type.(*ast.Ident); ok && slices.Contains(types, id.Name) {
				names = append(names, fn.Name.Name)
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no options found in %s", dir)
	}
	return names
}

// table returns the rows of the first Markdown table after the line that
// starts with heading: the table must follow it with nothing but prose, and
// ends at its first line that is not a row (so a blank line inside a table
// cuts it).
func table(t *testing.T, readme, heading string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n"+heading)
	if !ok {
		t.Fatalf("README has no line starting with %q", heading)
	}
	var rows []string
	for line := range strings.Lines(after) {
		if strings.HasPrefix(line, "|") {
			rows = append(rows, line)
		} else if len(rows) > 0 {
			break
		}
	}
	return strings.Join(rows, "")
}

// TestREADMEListsEveryOption: every exported option of every package appears
// in its README table, with its default, and each table is one table.
func TestREADMEListsEveryOption(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, tc := range []struct {
		heading, dir, qual string
		types              []string
	}{
		{"## Options", ".", "", []string{"Option"}},
		{"| `lease` option", "lease", "lease.", []string{"Option"}},
		{"| store option", "checkpoint/dynamocheckpoint", "dynamocheckpoint.", []string{"Option"}},
		{"| store option", "checkpoint/redischeckpoint", "redischeckpoint.", []string{"Option"}},
		{"| store option", "lease/dynamolease", "dynamolease.", []string{"Option"}},
		{"| `kinesistest` option", "kinesistest", "kinesistest.", []string{"Option", "ServeOption"}},
	} {
		rows := table(t, readme, tc.heading)
		for _, name := range optionFuncs(t, tc.dir, tc.types...) {
			if !strings.Contains(rows, "| `"+tc.qual+name+"(") {
				t.Errorf("the README table after %q has no row for %s%s", tc.heading, tc.qual, name)
			}
		}
	}
	for _, tc := range []struct {
		heading string
		typ     reflect.Type
	}{
		{"`polling.Options`", reflect.TypeFor[polling.Options]()},
		{"`efo.Options`", reflect.TypeFor[efo.Options]()},
	} {
		rows := table(t, readme, tc.heading)
		for f := range tc.typ.Fields() {
			if f.IsExported() && !strings.Contains(rows, "| `"+f.Name+"` |") {
				t.Errorf("the README table after %q has no row for %s", tc.heading, f.Name)
			}
		}
	}
}
