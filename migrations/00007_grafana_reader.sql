-- +goose Up
-- What Grafana's role (percolate_grafana, made by percolate's ledger) reads:
-- the marts and the pipeline-health views, nothing else.
CREATE SCHEMA IF NOT EXISTS health;
GRANT USAGE ON SCHEMA marts, health TO percolate_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA marts, health TO percolate_grafana;
-- Runs recreate marts and views; the grant follows them.
ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO percolate_grafana;
ALTER DEFAULT PRIVILEGES IN SCHEMA health GRANT SELECT ON TABLES TO percolate_grafana;

-- +goose Down
ALTER DEFAULT PRIVILEGES IN SCHEMA health REVOKE SELECT ON TABLES FROM percolate_grafana;
ALTER DEFAULT PRIVILEGES IN SCHEMA marts REVOKE SELECT ON TABLES FROM percolate_grafana;
REVOKE ALL ON ALL TABLES IN SCHEMA marts, health FROM percolate_grafana;
REVOKE USAGE ON SCHEMA marts, health FROM percolate_grafana;
DROP SCHEMA IF EXISTS health CASCADE;
