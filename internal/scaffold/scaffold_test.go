package scaffold

import (
	"regexp"
	"slices"
	"testing"
)

// TestFiles: a new project is the framework's own example, in the order
// init prints it, and names nothing of the cafe (this repository's
// project, which the binary must not carry).
func TestFiles(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
	}
	want := []string{"pipelines.yaml", "data/trips/trips_2024-05-01.csv", "models/marts/station_days.sql",
		"models/marts/station_days.test.yaml", "migrations/00001_trips_staging.sql", ".gitignore"}
	if !slices.Equal(got, want) {
		t.Errorf("files: got %v, want %v", got, want)
	}
	cafe := regexp.MustCompile(`(?i)\b(cafes?|branch(es)?|baskets?|orders?_|order_id|latte|cash|card)\b`)
	for _, f := range files {
		if m := cafe.Find(f.Body); m != nil {
			t.Errorf("%s names %q, a thing of the cafe's", f.Path, m)
		}
	}
}
