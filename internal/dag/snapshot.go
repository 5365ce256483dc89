package dag

import (
	"fmt"
	"slices"
	"strings"
)

// Snapshot is a materialization that keeps history: each build records
// the rows whose values changed since the last, with the time span each
// version was valid (valid_from, valid_to; NULL while current).
const Snapshot = "snapshot"

// Snapshot columns: when a row's version began to hold and stopped.
const (
	ValidFrom = "valid_from"
	ValidTo   = "valid_to"
)

// SnapshotConfig is how a snapshot tells a row's versions apart.
type SnapshotConfig struct {
	// Key is the columns naming the thing a row describes (`-- key:`):
	// one current row per key; its past versions beside it.
	Key []string
	// UpdatedAt, when set, is the column that says when a row last
	// changed: a newer value is a new version, valid from it.
	UpdatedAt string
	// CheckColumns, otherwise, are the columns compared with the current
	// version; any difference is a new version, valid from the build.
	CheckColumns []string
	// HardDeletes closes the current version of a key the SELECT no longer
	// returns (`-- hard_deletes: invalidate`); otherwise it stays current.
	HardDeletes bool
	// Line is the line of the header's first snapshot key.
	Line int
}

// snapshotHeader reads a snapshot's own header keys; it reports whether
// key was one, and what is wrong with its line, or "".
func (m *Model) snapshotHeader(key, v string, line int) (bool, string) {
	bad := fmt.Sprintf
	if key != "updated_at" && key != "check_columns" && key != "hard_deletes" {
		return false, ""
	}
	sc := m.Config.Snapshot
	if sc == nil {
		sc = &SnapshotConfig{Line: line}
		m.Config.Snapshot = sc
	}
	switch key {
	case "updated_at":
		if !identRe.MatchString(v) {
			return true, bad("updated_at must be a column name, not %q", v)
		}
		sc.UpdatedAt = v
	case "check_columns":
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); !identRe.MatchString(c) || slices.Contains(sc.CheckColumns, c) {
				return true, bad("check_columns: %q is not a column name, or is named twice", c)
			}
			sc.CheckColumns = append(sc.CheckColumns, c)
		}
	case "hard_deletes":
		if v != "invalidate" && v != "ignore" {
			return true, bad("hard_deletes must be invalidate (close the current row of a key no longer returned) or ignore, not %q", v)
		}
		sc.HardDeletes = v == "invalidate"
	}
	return true, ""
}

// checkSnapshot holds a snapshot to what it needs: a key, and either
// updated_at or check_columns, all columns it outputs; and the snapshot
// keys to a snapshot. The key becomes the snapshot's: no unique index
// holds it, since past versions share it.
func (m *Model) checkSnapshot() error {
	c := &m.Config
	sc := c.Snapshot
	if c.Materialized != Snapshot {
		if sc != nil {
			return &Error{Path: m.Path, Line: sc.Line, Msg: "updated_at, check_columns and hard_deletes are a snapshot's: declare -- materialized: snapshot"}
		}
		return nil
	}
	if sc == nil {
		sc = &SnapshotConfig{}
		c.Snapshot = sc
	}
	switch {
	case c.Key == nil:
		return &Error{Path: m.Path, Msg: "a snapshot needs -- key: (the columns naming what a row describes)"}
	case (sc.UpdatedAt == "") == (sc.CheckColumns == nil):
		return &Error{Path: m.Path, Line: sc.Line, Msg: "a snapshot needs one of -- updated_at: COLUMN (when a row last changed) or -- check_columns: a, b (compared with the current version)"}
	case c.DistributedBy != "" || c.Reference:
		return &Error{Path: m.Path, Msg: "a snapshot is not distributed (yet): leave distribution out"}
	}
	sc.Key, c.Key = c.Key, nil
	if cols, known := outputColumns(m.SQL); known {
		for _, col := range append(append(slices.Clone(sc.Key), sc.CheckColumns...), sc.UpdatedAt) {
			if col != "" && !slices.Contains(cols, col) {
				return &Error{Path: m.Path, Line: sc.Line, Msg: fmt.Sprintf("%s is not a column of the model (it has: %s)", col, strings.Join(cols, ", "))}
			}
		}
		for _, col := range []string{ValidFrom, ValidTo} {
			if slices.Contains(cols, col) {
				return &Error{Path: m.Path, Msg: fmt.Sprintf("a snapshot adds the column %s itself: name the model's otherwise", col)}
			}
		}
	}
	return nil
}

// appendSnapshot adds a snapshot's config to a version's description.
func (c *Config) appendSnapshot(desc []byte) []byte {
	if sc := c.Snapshot; sc != nil {
		desc = fmt.Appendf(desc, "\x00snapshot %v %s %v %v", sc.Key, sc.UpdatedAt, sc.CheckColumns, sc.HardDeletes)
	}
	return desc
}
