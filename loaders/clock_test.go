package loaders

import (
	"testing"
	"time"
)

// TestWallClockMatchesTimePackage reads timestamps with the fast path and
// with time.Parse and time.Date, as the loader did before it, every ten
// minutes over the clock changes of several years in zones that change by
// an hour, by half an hour, or never: the instants and wall times agree,
// and so does what each refuses.
func TestWallClockMatchesTimePackage(t *testing.T) {
	layouts := []string{"%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%y%m%d%H%M"}
	zones := []string{"Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"}
	for _, zone := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, layout := range layouts {
			w, ok := compileWall(layout)
			if !ok {
				t.Fatalf("%s: not compiled", layout)
			}
			goLayout := map[string]string{"%d/%m/%Y %H:%M": "02/01/2006 15:04", "%Y-%m-%d %H:%M:%S": "2006-01-02 15:04:05", "%y%m%d%H%M": "0601021504"}[layout]
			z := zoneCache{loc: loc}
			for at := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC); at.Year() < 2023; at = at.Add(10 * time.Minute) {
				s := at.Format(goLayout)
				wall, ok := w.parse(s)
				want, err := time.Parse(goLayout, s)
				if !ok || err != nil {
					t.Fatalf("%s %q: fast %v, time.Parse %v", zone, s, ok, err)
				}
				inst := time.Date(want.Year(), want.Month(), want.Day(), want.Hour(), want.Minute(), want.Second(), 0, loc)
				if wall != want.UnixMicro() || z.instant(wall) != inst.UnixMicro() {
					t.Fatalf("%s %q: wall %d instant %d, want %d and %d", zone, s, wall, z.instant(wall), want.UnixMicro(), inst.UnixMicro())
				}
			}
		}
	}
	w, _ := compileWall("%d/%m/%Y %H:%M")
	for _, bad := range []string{"31/02/2022 10:00", "01/13/2022 10:00", "01/01/2022 24:00", "01/01/2022 10:60", "1/01/2022 10:00", "01-01-2022 10:00", "01/01/2022 10:0x", "01/01/2022 10:00 "} {
		if _, ok := w.parse(bad); ok {
			t.Errorf("%q: read by the fast path, want refused (time.Parse then decides)", bad)
		}
	}
	for _, other := range []string{"%d/%m/%Y %H:%M:%S.%f", "%b %d"} {
		if _, ok := compileWall(other); ok {
			t.Errorf("%s: compiled, want left to time.Parse", other)
		}
	}
}
