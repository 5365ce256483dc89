package config

import (
	"regexp"
	"slices"
	"sort"

	"gopkg.in/yaml.v3"
)

// Seed is the optional contract of a seed, seeds/<schema>/<name>.csv: a
// small table the team keeps in the project, loaded when its content
// changes. Columns it does not type are text.
type Seed struct {
	Description string `yaml:"description"`
	// Key is the columns that tell its rows apart: never empty, never
	// repeated.
	Key []string `yaml:"key"`
	// Columns types columns by name: text, integer, bigint, numeric,
	// numeric(P,S), date, timestamp, timestamptz or boolean.
	Columns map[string]string `yaml:"columns"`

	Name string `yaml:"-"` // schema.name
	Line int    `yaml:"-"`
	// ColumnLines are the lines the columns are typed on.
	ColumnLines map[string]int `yaml:"-"`
}

// seedType is a type a seed's column may have.
var seedType = regexp.MustCompile(`^(text|integer|bigint|numeric|numeric\(\d{1,3}, ?\d{1,3}\)|date|timestamp|timestamptz|boolean)$`)

// varName is a name percolate.var reads.
var varName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// SeedNames lists the seeds given a contract, sorted.
func (f *File) SeedNames() []string {
	names := make([]string, 0, len(f.Seeds))
	for n := range f.Seeds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkSeeds checks the seeds' contracts and the vars' names.
func (f *File) checkSeeds(doc *yaml.Node, errf errorf) error {
	vars := child(doc, "vars")
	for name := range f.Vars {
		if !varName.MatchString(name) {
			return errf(vars, "vars: %q is not a name percolate.var can read (lower-case letters, digits and _)", name)
		}
	}
	seeds := child(doc, "seeds")
	for _, name := range f.SeedNames() {
		s := f.Seeds[name]
		sn := child(seeds, name)
		if s == nil {
			s = &Seed{}
			f.Seeds[name] = s
		}
		s.Name, s.Line, s.ColumnLines = name, line(sn), map[string]int{}
		if !relName.MatchString(name) {
			return errf(sn, "seeds: %q is not schema.name (the seed's file is seeds/<schema>/<name>.csv)", name)
		}
		cols := child(sn, "columns")
		for c, typ := range s.Columns {
			cn := child(cols, c)
			s.ColumnLines[c] = line(cn)
			if !identifier.MatchString(c) {
				return errf(cn, "seed %s: column %q is not a lower-case name", name, c)
			}
			if !seedType.MatchString(typ) {
				return errf(cn, "seed %s: column %s: type %q is not one of text, integer, bigint, numeric, numeric(P,S), date, timestamp, timestamptz, boolean", name, c, typ)
			}
		}
		kn := child(sn, "key")
		for i, k := range s.Key {
			if !identifier.MatchString(k) || slices.Contains(s.Key[:i], k) {
				return errf(kn, "seed %s: key: %q is not a column name, or is named twice", name, k)
			}
		}
	}
	return nil
}
