package ledger

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Folder is a folder of a source whose files are never rewritten, as a
// run listed it: its path (recorded as files' are), the glob pattern its
// files were matched with, the source's contract then, and its
// modification time.
type Folder struct {
	Path     string
	Pattern  string
	Contract string
	Modified time.Time
}

// Folders returns, by path, the modification time of each folder of
// source listed under pattern and contract whose every matching file a
// run took: a folder that still has that time holds nothing new.
func (Store) Folders(ctx context.Context, q Querier, source, pattern, contract string) (map[string]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT path, modified_at FROM percolate.folders WHERE source = $1 AND pattern = $2 AND contract = $3`,
		source, pattern, contract)
	if err != nil {
		return nil, wrap("read listed folders", err)
	}
	out := map[string]time.Time{}
	var path string
	var mod time.Time
	_, err = pgx.ForEachRow(rows, []any{&path, &mod}, func() error {
		out[path] = mod
		return nil
	})
	return out, wrap("read listed folders", err)
}

// RecordFolders records folders of source as listed and taken whole.
func (Store) RecordFolders(ctx context.Context, q Querier, source string, folders []Folder) error {
	if len(folders) == 0 {
		return nil
	}
	n := len(folders)
	paths, patterns, contracts, mods := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
	for i, f := range folders {
		paths[i], patterns[i], contracts[i], mods[i] = f.Path, f.Pattern, f.Contract, f.Modified
	}
	_, err := q.Exec(ctx, `INSERT INTO percolate.folders AS f (source, path, pattern, contract, modified_at)
		SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[])
		ON CONFLICT (source, path) DO UPDATE
		SET pattern = excluded.pattern, contract = excluded.contract, modified_at = excluded.modified_at, listed_at = now()`,
		source, paths, patterns, contracts, mods)
	return wrap("record listed folders", err)
}
