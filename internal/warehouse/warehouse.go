// Package warehouse is the engine a warehouse runs on, plain PostgreSQL or
// Citus, detected once per connection and passed down: every difference
// between the two lives here (in the manner of SQLMesh's engine
// adapters), so that no other package asks which engine it is. It owns
// how tables are distributed, the settings a build runs with, the staging
// indexes a big load drops and builds again, and the reader role's
// credentials on Citus.
package warehouse

import (
	"context"
	"fmt"

	"github.com/percolate/percolate/internal/ledger"
)

// Querier is what the engine needs of a connection: a pool, a connection
// or a transaction, as the ledger's.
type Querier = ledger.Querier

// Kind is the engine a warehouse runs on.
type Kind int

const (
	// PostgreSQL is a plain PostgreSQL server: distribution declarations
	// change nothing.
	PostgreSQL Kind = iota
	// Citus is PostgreSQL with the citus extension: tables are distributed
	// as sources and models declare.
	Citus
)

// String names the kind as the CLI says it.
func (k Kind) String() string {
	if k == Citus {
		return "Citus"
	}
	return "PostgreSQL"
}

// Engine is what Detect found of a warehouse. Its zero value is plain
// PostgreSQL of an unknown version.
type Engine struct {
	Kind Kind
	// Version is the server's version, as its server_version says it.
	Version string
	// VersionNum is server_version_num: 150008 for 15.8.
	VersionNum int
	// Citus is the version of the citus extension, "" on plain PostgreSQL.
	Citus string
	// Workers counts Citus's primary worker nodes; 0 on plain PostgreSQL.
	Workers int
}

// Detect asks the database q reaches which engine it is: its version,
// and whether it has the citus extension, with how many workers.
func Detect(ctx context.Context, q Querier) (*Engine, error) {
	e := &Engine{}
	err := q.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('server_version_num')::int,
		coalesce((SELECT extversion FROM pg_extension WHERE extname = 'citus'), '')`).Scan(&e.Version, &e.VersionNum, &e.Citus)
	if err != nil {
		return nil, fmt.Errorf("warehouse: detect: %w", err)
	}
	if e.Citus == "" {
		return e, nil
	}
	e.Kind = Citus
	if err := q.QueryRow(ctx, `SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0`).Scan(&e.Workers); err != nil {
		return nil, fmt.Errorf("warehouse: detect: Citus's workers: %w", err)
	}
	return e, nil
}

// IsCitus reports whether the warehouse runs on Citus.
func (e *Engine) IsCitus() bool { return e.Kind == Citus }

// BuildsAtOnce is how many models a build makes side by side by default,
// on a client of cores cores. On plain PostgreSQL a model's statements run
// on one backend, so one model per core. On Citus every statement already
// runs on every worker, shard after shard over one connection a worker
// (see SetBuild), so one model at a time: a second beside it only shares
// the workers' cores. The year on a coordinator and two workers sharing
// two cores, by turns with one server: built two at a time (three runs),
// core.product_days took 3.5× its time on one server, core.order_sums
// 2.1×, marts.hourly_sales 2.2×; one at a time (five runs), none of the
// year's size over 1.61× in the medians, and the backfill as long
// (0.99–1.07× one server either way). Workers whose cores one build
// leaves idle might build faster with more (run --build-jobs); not
// measured.
func (e *Engine) BuildsAtOnce(cores int) int {
	if e.IsCitus() {
		return 1
	}
	return max(1, cores)
}
