// Package docsite renders a project's catalog as a static web site: its
// models, their columns, checks, tests and lineage, its sources and their
// contracts, its dashboards and its latest runs. The site is plain files
// (HTML, one style sheet, one script, all embedded in the binary) that
// open from disk with no network; Handler serves the same.
//
// The package knows nothing of any project: it renders the Catalog it is
// given.
package docsite

import "time"

// Catalog is everything the site shows, gathered by the caller. Fields
// that come from the database are empty when Ledger is false.
type Catalog struct {
	// Title names the site: the project's folder, say.
	Title       string
	Pipeline    string
	Description string
	Generated   time.Time
	// Ledger says whether the database was read: check results, builds,
	// file counts, rejects, expectations and runs come from it.
	Ledger bool
	// NoLedger says why the database was not read, for the pages to say.
	NoLedger string

	Models     []*Model
	Sources    []*Source
	Dashboards []*Dashboard
	Runs       []*Run
}

// Model is one SQL model.
type Model struct {
	Name         string // schema.name
	Path         string
	Description  string
	Materialized string
	Version      string
	Tags         []string
	Key          []string
	SQL          string
	Columns      []*Column
	Checks       []*Check
	Tests        []*TestCase
	// Upstream are the relations the model reads (models and source
	// tables); Downstream the models that read it.
	Upstream   []string
	Downstream []string
	// Built is the model's last build, when the ledger has one.
	Built *Build
}

// Column is one output column of a model.
type Column struct {
	Name        string
	Description string
	// From are the columns ("schema.rel.column") its model's SQL computes
	// it from.
	From []string
	// Panels are the dashboard panels that read it or a column computed
	// from it, as "Dashboard › Panel".
	Panels []string
}

// Check is a data test of a model, with its last result.
type Check struct {
	Name     string
	Severity string
	Last     *CheckResult
}

// CheckResult is the last time a check ran.
type CheckResult struct {
	Failures int64
	At       time.Time
	RunID    int64 // 0 when run outside a run (percolate test)
}

// TestCase is one unit-test case of a model.
type TestCase struct {
	Name  string
	Path  string
	Line  int
	Given []string // the relations it gives rows of
	Rows  int      // the rows it expects
}

// Build is a model's last build.
type Build struct {
	Version string
	Rows    int64 // -1 when not counted (a view)
	At      time.Time
	RunID   int64
}

// Source is a set of raw files with a declared contract.
type Source struct {
	Name        string
	Description string
	Path        string
	Table       string
	// Tables are the staging tables the source writes; their columns and
	// types are in Columns.
	Tables  []string
	Columns []*SourceColumn
	// Contract is the source's declaration as written, comments and all.
	Contract string
	// Expect says how files are expected to arrive, for people; empty
	// when the source declares nothing.
	Expect []string

	// From the ledger.
	Files    *FileCounts
	Rejects  []*Reject
	Findings []*Finding
	// FindingsAsOf is the day of the last check of the deliveries; zero
	// when none was made.
	FindingsAsOf time.Time
}

// SourceColumn is one column of a source's staging tables.
type SourceColumn struct {
	Table, Name, Type string
	// Note says what the contract does with it: personal data dropped or
	// hashed, a key, values allowed.
	Note string
}

// FileCounts counts a source's files by what became of them.
type FileCounts struct {
	Loaded, Replaced, Refused int64
	Rows, Rejected            int64
	Last                      time.Time
}

// Reject is a row a file's contract refused.
type Reject struct {
	File   string
	Line   int
	Column string
	Reason string
}

// Finding is an expectation of the deliveries that was not met.
type Finding struct {
	Kind, Group, Day, Severity, Detail string
}

// Dashboard is one dashboard and its panels.
type Dashboard struct {
	Title  string
	UID    string
	Path   string
	Panels []*Panel
}

// Panel is one dashboard panel and the model columns its SQL reads.
type Panel struct {
	Title string
	Type  string
	SQL   string
	Reads []string
	// Missing are columns it reads that their model does not have: the
	// panel fails.
	Missing []string
	// Err is why its SQL could not be followed.
	Err string
}

// Run is one run of the pipeline, as the ledger recorded it.
type Run struct {
	ID           int64
	Command      string
	Status       string
	Started      time.Time
	Finished     time.Time // zero while running
	FilesLoaded  int64
	RowsLoaded   int64
	RowsRejected int64
	ModelsBuilt  int64
	Error        string
}
