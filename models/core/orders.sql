-- materialized: incremental
-- time_column: sales_date
-- index: order_id
-- description: One row per order from both layouts. An order delivered in several files (or twice in one) has one order_id, the keyed hash of its content, and appears once.
-- tags: core
-- check: unique(order_id)
-- check: not_null(order_id, branch, ordered_at, sales_date, total)
-- check: accepted_values(payment_method: CASH, CARD)
SELECT DISTINCT ON (order_id)
       order_id,
       branch,
       ordered_at,
       ordered_local,
       sales_date,
       total,
       payment_method
FROM (
    SELECT order_id, branch, ordered_at, ordered_local, sales_date, total, payment_method, load_id, source_line
    FROM staging.transactions
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT order_id, branch, ordered_at, ordered_local, sales_date, total, payment_method, load_id, source_line
    FROM staging.legacy_transactions
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
) AS delivered
ORDER BY order_id, load_id, source_line
