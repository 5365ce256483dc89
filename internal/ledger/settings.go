package ledger

import "context"

// KeyFingerprint records fp as the fingerprint of the hash key the
// warehouse is loaded with, unless one is recorded already, and returns
// the recorded one: a caller whose fingerprint differs holds another key.
func (Store) KeyFingerprint(ctx context.Context, q Querier, fp string) (string, error) {
	var got string
	err := q.QueryRow(ctx, `INSERT INTO percolate.settings (name, value) VALUES ('hash_key_fingerprint', $1)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING value`, fp).Scan(&got)
	return got, wrap("record the hash key's fingerprint", err)
}

// Setting returns the value of the setting name, or "" when none is
// recorded.
func (Store) Setting(ctx context.Context, q Querier, name string) (string, error) {
	var got string
	err := q.QueryRow(ctx, `SELECT coalesce((SELECT value FROM percolate.settings WHERE name = $1), '')`, name).Scan(&got)
	return got, wrap("read a setting", err)
}

// SetSetting records value as the setting name, replacing the one before.
func (Store) SetSetting(ctx context.Context, q Querier, name, value string) error {
	_, err := q.Exec(ctx, `INSERT INTO percolate.settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, name, value)
	return wrap("write a setting", err)
}
