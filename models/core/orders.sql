-- materialized: incremental
-- time_column: sales_date
-- key: order_id
-- index: branch, sales_date
-- distributed_by: branch
-- description: One row per order from both layouts, once however often it was delivered (its first delivery, by file then line). Keyed by order_id.
-- tags: core
-- column items: how many basket items the order has
-- check: unique(order_id)
-- check: relationships(branch -> core.branches.branch)
--
-- Why it is built so: an order id is a keyed hash of the order's time,
-- branch, basket and the rest, so every delivery of an order is on its
-- branch's day. Only the branch-days that more than one file delivers, or
-- whose files' sums count rows the loader marked repeated (or could not
-- tell), are searched for repeats, by id; the others are taken as loaded.
-- Days are merged by key, so a day delivered again with nothing new writes
-- nothing. payment_method is CASH or CARD: both contracts reject any other.
WITH delivered AS NOT MATERIALIZED (
    SELECT order_id, branch, ordered_at, ordered_local, sales_date, total, payment_method, item_count, load_id, source_line
    FROM staging.transactions
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT order_id, branch, ordered_at, ordered_local, sales_date, total, payment_method, item_count, load_id, source_line
    FROM staging.legacy_transactions
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
), shared AS NOT MATERIALIZED (
    -- Read from the files' order sums, not from every order row; not
    -- materialized: each use is joined on the branch, which a distributed
    -- engine pushes down to its shards.
    SELECT sales_date, branch
    FROM (
        SELECT load_id, sales_date, branch, repeats
        FROM staging.transaction_sums
        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
        UNION ALL
        SELECT load_id, sales_date, branch, repeats
        FROM staging.legacy_transaction_sums
        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    ) AS files
    GROUP BY sales_date, branch
    HAVING min(load_id) <> max(load_id) OR bool_or(repeats IS DISTINCT FROM 0)
)
SELECT order_id, branch, ordered_at, ordered_local, sales_date, total, payment_method, item_count AS items
FROM delivered AS d
WHERE NOT EXISTS (SELECT FROM shared AS s WHERE s.sales_date = d.sales_date AND s.branch = d.branch)
UNION ALL
(
    -- The order id first: the sort then decides on it, where the branch
    -- (ten values) left most comparisons to a later key.
    SELECT DISTINCT ON (d.order_id, d.branch)
           d.order_id, d.branch, d.ordered_at, d.ordered_local, d.sales_date, d.total, d.payment_method, d.item_count
    FROM delivered AS d
    JOIN shared AS s ON s.sales_date = d.sales_date AND s.branch = d.branch
    ORDER BY d.order_id, d.branch, d.load_id, d.source_line
)
