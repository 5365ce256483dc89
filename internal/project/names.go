package project

import (
	"github.com/percolate/percolate/internal/delivery"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/seed"
	"github.com/percolate/percolate/internal/unit"
	"github.com/percolate/percolate/loaders"
)

// The names below are those of the packages under project, given here
// because project's results are made of them: a caller (the command line)
// reads what a run, a load or a check did through project alone.

// FileResult is how one file's load ended (see loaders.Result).
type FileResult = loaders.Result

// FileStatus is a file's status after a load (see loaders.Status).
type FileStatus = loaders.Status

// The statuses a file's load ends with.
const (
	Loaded         = loaders.Loaded
	Replaced       = loaders.Replaced
	Skipped        = loaders.Skipped
	Refused        = loaders.Refused
	RefusedEarlier = loaders.RefusedEarlier
	Failed         = loaders.Failed
)

// SeedError is a seed's file breaking its contract, naming file, line and
// column (see seed.Error).
type SeedError = seed.Error

// SeedStatus is what a run did, or a plan would do, with a seed (see
// seed.Status).
type SeedStatus = seed.Status

// S3Options configure the client that reads sources in buckets (see
// loaders.S3Options).
type S3Options = loaders.S3Options

// Expectation is a delivery expectation found unmet (see
// ledger.Expectation).
type Expectation = ledger.Expectation

// Silent is the kind of a finding that every group of a source is old:
// one finding of the whole source, not one per group.
const Silent = delivery.Silent

// FileFilter picks entries of the file manifest (see Files).
type FileFilter = ledger.FileFilter

// FileEntry is a file as the manifest records it.
type FileEntry = ledger.Entry

// RejectFilter picks rejects (see Rejects).
type RejectFilter = ledger.RejectFilter

// UnitCase is a unit test case of a model (see unit.Case).
type UnitCase = unit.Case

// UnitResult is how a unit test case went (see unit.Result).
type UnitResult = unit.Result

// UnitSuffix ends the name of a model's unit test file, beside the model.
const UnitSuffix = unit.Suffix

// ErrBusy is returned when another process holds the run lock (see
// RunOptions.Wait).
var ErrBusy = pg.ErrBusy

// ErrKeyMismatch is returned when the hash key differs from the one the
// database was loaded with.
var ErrKeyMismatch = loaders.ErrKeyMismatch
