// Package migrations holds the goose migrations of the warehouse schema:
// the schemas, the ledger and the staging tables the loader writes. They are
// embedded in the binary so that `percolate run` can apply them anywhere.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
