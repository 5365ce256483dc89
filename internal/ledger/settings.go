package ledger

import "context"

// KeyFingerprint records fp as the fingerprint of the hash key the
// warehouse is loaded with, unless one is recorded already, and returns
// the recorded one: a caller whose fingerprint differs holds another key.
func (Store) KeyFingerprint(ctx context.Context, q Querier, fp string) (string, error) {
	var got string
	err := q.QueryRow(ctx, `INSERT INTO percolate.settings (name, value) VALUES ('hash_key_fingerprint', $1)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING value`, fp).Scan(&got)
	return got, err
}
