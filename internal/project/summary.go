package project

import (
	"fmt"
	"time"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/seed"
	"github.com/percolate/percolate/loaders"
)

// Summary is what a run did.
type Summary struct {
	RunID    int64
	Pipeline string
	// Citus is the version of Citus the warehouse runs on, or "".
	Citus string
	Files []loaders.Result
	// Seeds are what the run did with each seed.
	Seeds []seed.Status
	Build *build.Result
	// Expectations are the sources' delivery expectations the run found
	// unmet, after loading and publishing (see package delivery).
	Expectations []Expectation
	// Warnings are things a person should know, such as a glob that
	// matched no file; Notes are things done that a person would not
	// expect, such as files read again after a contract changed.
	Warnings, Notes []string
	// Loading is how long the files took; Duration the whole run.
	Loading, Duration time.Duration
	// Published is true once the run's build committed its publish, or
	// found nothing to build.
	Published bool
}

// Count returns how many files ended with status s.
func (s *Summary) Count(st loaders.Status) int {
	n := 0
	for _, f := range s.Files {
		if f.Status == st {
			n++
		}
	}
	return n
}

// Rows adds up rows loaded, items exploded and rows rejected, of the files
// that loaded: the rejects percolate rejects lists. The rows of a file
// refused whole are none of these (see RefusedRows).
func (s *Summary) Rows() (loaded, items, rejected int64) {
	for _, f := range s.Files {
		if f.Status == loaders.Loaded || f.Status == loaders.Replaced {
			loaded += f.Loaded
			items += f.Items
			rejected += f.Rejected
		}
	}
	return
}

// RefusedRows adds up the data rows of the files refused whole this run,
// good and bad: nothing of them was loaded nor kept as rejects.
func (s *Summary) RefusedRows() (rows int64) {
	for _, f := range s.Files {
		if f.Status == loaders.Refused {
			rows += f.Rows
		}
	}
	return
}

// Built counts the models the run built.
func (s *Summary) Built() int {
	if s.Build == nil {
		return 0
	}
	return len(s.Build.Built)
}

// InterruptedError is the error of a run whose context was cancelled
// (Ctrl-C, SIGTERM): it stopped at the next safe point, and is recorded as
// interrupted, not failed. Every file it committed stays loaded; a publish
// either committed whole or not at all.
type InterruptedError struct {
	// Published says the run's own publish had committed when it stopped.
	Published bool
	// Done, for a backfill, are the chunks whose publish committed before
	// it stopped; Pending the chunk under way, when it published nothing.
	Done    []Chunk
	Pending *Chunk
	// Nothing says it stopped before anything was published or loaded.
	Nothing bool
	Err     error
}

func (e *InterruptedError) Error() string {
	var what string
	done := ""
	if n := len(e.Done); n > 0 {
		done = fmt.Sprintf("published %s", Chunk{From: e.Done[0].From, To: e.Done[n-1].To}.days())
	}
	switch {
	case e.Pending != nil && done != "":
		what = fmt.Sprintf("%s; nothing of this chunk (%s) was published", done, e.Pending.days())
	case e.Pending != nil:
		what = fmt.Sprintf("nothing of this chunk (%s) was published", e.Pending.days())
	case done != "":
		what = done
	case e.Published:
		what = "the models were published; the delivery checks did not run"
	case e.Nothing:
		what = "nothing was published"
	default:
		what = "nothing of this run was published; the files it loaded stay loaded"
	}
	return "interrupted: " + what + "; run the same command to resume"
}

func (e *InterruptedError) Unwrap() error { return e.Err }
