-- +goose Up
-- core.orders finds an order's repeated deliveries itself: the table
-- core.repeated_orders that earlier releases built goes, with the views
-- over it (the core is keyed tables now, which the next run builds).
DROP TABLE IF EXISTS core.repeated_orders CASCADE;

-- +goose Down
-- Nothing to undo: a run of the earlier release builds it again.
