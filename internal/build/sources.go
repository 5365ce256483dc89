package build

import (
	"slices"
)

// builtTables lists the source tables that the plan's builds read.
func builtTables(plan *Plan) []string {
	var out []string
	for _, s := range plan.Steps {
		if !s.Build {
			continue
		}
		for _, t := range s.tables {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
