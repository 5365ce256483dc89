-- materialized: view
-- description: One row per order from both layouts: the order rows as loaded, less the repeated deliveries in core.repeated_orders, so an order delivered in several files (or twice in one) appears once (core.repeated_orders checks that, on every day it rebuilds). items is how many basket items it has. A view: order rows are written once, in staging, whose columns are NOT NULL. payment_method is CASH or CARD: both sources' contracts (values) reject any other, so no check reads a million rows to say so.
-- tags: core
SELECT o.order_id,
       o.branch,
       o.ordered_at,
       o.ordered_local,
       o.sales_date,
       o.total,
       o.payment_method,
       o.item_count AS items
FROM (
    SELECT order_id, branch, ordered_at, ordered_local, sales_date, total, payment_method, item_count, load_id, source_line
    FROM staging.transactions
    UNION ALL
    SELECT order_id, branch, ordered_at, ordered_local, sales_date, total, payment_method, item_count, load_id, source_line
    FROM staging.legacy_transactions
) AS o
WHERE NOT EXISTS (SELECT FROM core.repeated_orders AS r WHERE r.load_id = o.load_id AND r.source_line = o.source_line)
