package dag

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var (
	headerLine = regexp.MustCompile(`^--\s*([a-z_]+)\s*:\s*(.*?)\s*$`)
	columnLine = regexp.MustCompile(`^--\s*column\s+([a-z_][a-z0-9_]*)\s*:\s*(.*?)\s*$`)
	identRe    = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// parseHeader reads the model's config from the -- key: value comments
// it starts with, and the -- column name: text lines that document its
// columns.
func (m *Model) parseHeader() error {
	m.Config.Materialized = View
	for i, l := range strings.Split(m.SQL, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "--") {
			break
		}
		if c := columnLine.FindStringSubmatch(l); c != nil {
			if c[2] == "" {
				return &Error{Path: m.Path, Line: i + 1, Msg: fmt.Sprintf("column %s: say what it holds after the colon", c[1])}
			}
			m.Config.Columns = append(m.Config.Columns, ColumnDoc{Name: c[1], Text: c[2], Line: i + 1})
			continue
		}
		if kv := headerLine.FindStringSubmatch(l); kv != nil {
			if msg := m.headerKey(kv[1], kv[2], i+1); msg != "" {
				return &Error{Path: m.Path, Line: i + 1, Msg: msg}
			}
		}
	}
	return nil
}

// headerKey sets what the header's line says: key: v. It returns what is
// wrong with the line, or "".
func (m *Model) headerKey(key, v string, line int) string {
	switch key {
	case "materialized":
		if v != View && v != Table && v != Incremental && v != Snapshot {
			return fmt.Sprintf("materialized must be view, table, incremental or snapshot, not %q", v)
		}
		m.Config.Materialized = v
	case "time_column":
		if !identRe.MatchString(v) {
			return fmt.Sprintf("time_column must be a column name, not %q", v)
		}
		m.Config.TimeColumn = v
	case "grain":
		if v != "day" {
			return fmt.Sprintf("grain must be day (the only grain so far), not %q", v)
		}
		m.Config.Grain = v
	case "index", "key":
		return m.headerColumns(key, v)
	case "description":
		m.Config.Description = v
	case "check":
		c, err := parseCheck(v, line)
		if err != nil {
			return err.Error()
		}
		m.Config.Checks = append(m.Config.Checks, c)
	case "distributed_by":
		if !identRe.MatchString(v) {
			return fmt.Sprintf("distributed_by must be a column name, not %q", v)
		}
		m.Config.DistributedBy = v
	case "distribution":
		if v != "reference" {
			return fmt.Sprintf("distribution must be reference (a small table copied to every node), not %q; to shard a table, write -- distributed_by: COLUMN", v)
		}
		m.Config.Reference = true
	case "tags":
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				m.Config.Tags = append(m.Config.Tags, t)
			}
		}
		slices.Sort(m.Config.Tags)
	default:
		if ok, msg := m.snapshotHeader(key, v, line); ok {
			return msg
		}
		return fmt.Sprintf("unknown header key %q (known: materialized, time_column, grain, key, index, description, tags, check, distributed_by, distribution; a snapshot's updated_at, check_columns, hard_deletes)", key)
	}
	return ""
}

// headerColumns reads an index or the key: a list of column names.
func (m *Model) headerColumns(key, v string) string {
	var cols []string
	for _, c := range strings.Split(v, ",") {
		if c = strings.TrimSpace(c); !identRe.MatchString(c) || slices.Contains(cols, c) {
			return fmt.Sprintf("%s: %q is not a column name, or is named twice", key, c)
		}
		cols = append(cols, c)
	}
	if key == "index" {
		m.Config.Indexes = append(m.Config.Indexes, cols)
		return ""
	}
	if m.Config.Key != nil {
		return "key: a model has one key (declared already)"
	}
	m.Config.Key = cols
	return ""
}
