package ledger

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvBuild is what an environment holds of one model (see
// percolate.env_builds): Kind is "table" or "view" when built from the
// model's SQL, "live" for a view over the live relation.
type EnvBuild struct {
	Env, Model, Schema, Version, Kind string
	Built                             time.Time
}

// EnvBuilds returns what environment env holds, by model name (none: an
// environment never run).
func (Store) EnvBuilds(ctx context.Context, q Querier, env string) (map[string]EnvBuild, error) {
	rows, err := q.Query(ctx, `SELECT env, model, schema, version, kind, built_at FROM percolate.env_builds WHERE env = $1`, env)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[EnvBuild])
	if err != nil {
		return nil, err
	}
	out := map[string]EnvBuild{}
	for _, b := range list {
		out[b.Model] = b
	}
	return out, nil
}

// AllEnvBuilds returns every environment's builds, by environment then
// model name.
func (Store) AllEnvBuilds(ctx context.Context, q Querier) ([]EnvBuild, error) {
	rows, err := q.Query(ctx, `SELECT env, model, schema, version, kind, built_at FROM percolate.env_builds ORDER BY env, model`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[EnvBuild])
}

// RecordEnv replaces environment env's record with builds.
func (Store) RecordEnv(ctx context.Context, q Querier, env string, builds []EnvBuild) error {
	if _, err := q.Exec(ctx, `DELETE FROM percolate.env_builds WHERE env = $1`, env); err != nil {
		return err
	}
	for _, b := range builds {
		if _, err := q.Exec(ctx, `INSERT INTO percolate.env_builds (env, model, schema, version, kind) VALUES ($1, $2, $3, $4, $5)`,
			env, b.Model, b.Schema, b.Version, b.Kind); err != nil {
			return err
		}
	}
	return nil
}

// ForgetEnv deletes environment env's record.
func (Store) ForgetEnv(ctx context.Context, q Querier, env string) error {
	_, err := q.Exec(ctx, `DELETE FROM percolate.env_builds WHERE env = $1`, env)
	return err
}
