package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Expect says how a source's files are expected to arrive: one for every
// day, per value of a column (a store, say), from every one that has ever
// delivered, until the project says otherwise: a retired group is expected
// up to its own newest day, and no group after the source's Ended day.
// What is missing has Severity.
type Expect struct {
	Every    string `yaml:"every"`    // day
	Per      string `yaml:"per"`      // a text column of the source's table: store
	Severity string `yaml:"severity"` // warn (the default) or error
	// Ended is the source's last day, when its deliveries have stopped
	// for good (a sample, a layout replaced by another): the checks take
	// the day after it for today.
	Ended Date `yaml:"ended"`
	// Retired lists the groups that stopped delivering for good.
	Retired Groups `yaml:"retired"`
	// ActiveDays is refused: it hid a group that stopped delivering.
	ActiveDays yaml.Node `yaml:"active_days"`
}

// Groups is a YAML list of a column's values: [York, Leeds].
type Groups []string

// UnmarshalYAML takes a list of strings, and says so when given more or less.
func (g *Groups) UnmarshalYAML(n *yaml.Node) error {
	var s []string
	if n.Kind != yaml.SequenceNode || n.Decode(&s) != nil {
		return fmt.Errorf("line %d: retired must be a list of the groups that stopped for good, such as [York, Leeds]", n.Line)
	}
	*g = s
	return nil
}

// Date is a YAML day, YYYY-MM-DD.
type Date struct{ time.Time }

// UnmarshalYAML takes YYYY-MM-DD.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("line %d: %q is not a day such as 2022-03-31", n.Line, n.Value)
	}
	d.Time = t
	return nil
}

// Freshness bounds how old the newest day of each group may be before a
// warning, and before an error.
type Freshness struct {
	WarnAfter  Duration `yaml:"warn_after"`
	ErrorAfter Duration `yaml:"error_after"`
}

// Volume bounds a day's rows against the median of the same group's
// same weekday over the 4 weeks before: below WarnBelow or above WarnAbove
// of it is a warning.
type Volume struct {
	WarnBelow Percent `yaml:"warn_below"`
	WarnAbove Percent `yaml:"warn_above"`
}

// DefaultSuccessWithin is how long a pipeline may go without a successful
// run when it declares no success_within.
const DefaultSuccessWithin = 26 * time.Hour

// RunDue is how long pl may go without a successful run.
func (pl *Pipeline) RunDue() time.Duration {
	if pl.SuccessWithin.Duration > 0 {
		return pl.SuccessWithin.Duration
	}
	return DefaultSuccessWithin
}

// Duration is a YAML duration: 26h, 90m, 2d.
type Duration struct{ time.Duration }

// UnmarshalYAML takes Go's durations, and days as Nd.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if k, err := strconv.Atoi(days); err == nil && k > 0 {
			d.Duration = time.Duration(k) * 24 * time.Hour
			return nil
		}
	}
	t, err := time.ParseDuration(v)
	if err != nil || t <= 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 26h or 2d", n.Line, v)
	}
	d.Duration = t
	return nil
}

// Percent is a YAML percentage, 50% (or a fraction, 0.5).
type Percent struct{ Fraction float64 }

// UnmarshalYAML takes 50% or 0.5.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	s, pct := strings.CutSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if pct {
		f /= 100
	}
	if err != nil || f <= 0 {
		return fmt.Errorf("line %d: %q is not a percentage such as 50%%", n.Line, v)
	}
	p.Fraction = f
	return nil
}

func (p Percent) String() string { return strconv.FormatFloat(p.Fraction*100, 'f', -1, 64) + "%" }

// checkExpectations validates expect, freshness and volume: they need the
// column they are per (expect's per, or the key's day column) to be one of
// the source's table.
func (s *Source) checkExpectations(at func(string) *yaml.Node, errf errorf) error {
	if s.Expect == nil && s.Freshness == nil && s.Volume == nil {
		return nil
	}
	if s.Expect == nil {
		return errf(at("freshness"), "source %s: freshness and volume are per group: declare expect: {every: day, per: COLUMN} too", s.Name)
	}
	e := s.Expect
	if e.Every != "day" {
		return errf(at("expect"), "source %s: expect: every must be day (the only period so far), not %q", s.Name, e.Every)
	}
	ok := false
	for _, c := range s.Columns {
		if c.Name == e.Per && c.Optional {
			return errf(at("expect"), "source %s: expect: per names %q, an optional column: a row without it would be of no group", s.Name, e.Per)
		}
		ok = ok || (c.Name == e.Per && c.Personal == "" && c.Type == Text)
	}
	if !ok {
		return errf(at("expect"), "source %s: expect: per names %q, which is not a text column of the source (not personal)", s.Name, e.Per)
	}
	if s.DayColumn() == "" {
		return errf(at("expect"), "source %s: expect needs a timestamp column with a date: (the day each row belongs to)", s.Name)
	}
	if e.ActiveDays.Kind != 0 {
		return errf(&e.ActiveDays, "source %s: expect: active_days is no longer read: a group that has delivered stays expected; "+
			"list the ones that stopped for good in expect: retired: [...], or give the source's last day as expect: ended: YYYY-MM-DD "+
			"(freshness: error_after says how long a silence may last)", s.Name)
	}
	seen := map[string]bool{}
	for _, g := range e.Retired {
		if strings.TrimSpace(g) == "" || seen[g] {
			return errf(at("expect"), "source %s: expect: retired: %q is empty or listed twice", s.Name, g)
		}
		seen[g] = true
	}
	switch e.Severity {
	case "":
		e.Severity = "warn"
	case "warn", "error":
	default:
		return errf(at("expect"), "source %s: expect: severity must be warn or error, not %q", s.Name, e.Severity)
	}
	if f := s.Freshness; f != nil && f.ErrorAfter.Duration > 0 && f.WarnAfter.Duration > f.ErrorAfter.Duration {
		return errf(at("freshness"), "source %s: freshness: warn_after (%s) is after error_after (%s)", s.Name, f.WarnAfter.Duration, f.ErrorAfter.Duration)
	}
	if v := s.Volume; v != nil && v.WarnAbove.Fraction > 0 && v.WarnBelow.Fraction >= v.WarnAbove.Fraction {
		return errf(at("volume"), "source %s: volume: warn_below (%s) must be below warn_above (%s)", s.Name, v.WarnBelow, v.WarnAbove)
	}
	return nil
}

// DayColumn is the staging column that holds each row's day (a timestamp
// column's date:), or "".
func (s *Source) DayColumn() string {
	for _, c := range s.Columns {
		if c.Type == Timestamp && c.Date != "" && c.Personal == "" {
			return c.Date
		}
	}
	return ""
}
