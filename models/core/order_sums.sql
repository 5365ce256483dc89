-- materialized: incremental
-- time_column: sales_date
-- distributed_by: branch
-- description: Orders counted and summed per branch, day, local hour (0-23) and payment method: what the branch and hourly marts sum. Summed from the files' order sums (the loader counts each file's orders by day, hour, branch and payment), less the repeated deliveries, which are in their files' sums but not in the warehouse: one row per file, hour and payment method is read, not every order (on a year, 69 thousand rows for a million orders).
-- tags: core
-- column hour: the hour of the day in the branch's local time
-- column orders: orders, each counted once however often it was delivered
-- column items: basket items of those orders
-- column revenue: sum of their totals, in pounds
-- check: unique(branch, sales_date, hour, payment_method)
WITH summed AS (
    SELECT branch, sales_date, hour, payment_method, orders, item_count, total
    FROM staging.transaction_sums
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT branch, sales_date, hour, payment_method, orders, item_count, total
    FROM staging.legacy_transaction_sums
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    -- The repeated deliveries, read on their days only: each day once in
    -- the array (DISTINCT), not once per repeat, which every row read and
    -- every index scan would test (a year re-sent took minutes). The order
    -- id in the join, the same row's, is what makes it a hash join: the
    -- planner costs a hash by its keys' most distinct column, and a file's
    -- lines alone looked too few to hash (it sorted the year's rows to disk).
    SELECT o.branch, o.sales_date, extract(hour FROM o.ordered_local)::integer, o.payment_method, -1, -o.item_count, -o.total
    FROM core.repeated_orders AS r
    JOIN (
        SELECT branch, sales_date, ordered_local, payment_method, item_count, total, order_id, load_id, source_line
        FROM staging.transactions
        WHERE sales_date = ANY (ARRAY(SELECT DISTINCT sales_date FROM core.repeated_orders
                                        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()))
        UNION ALL
        SELECT branch, sales_date, ordered_local, payment_method, item_count, total, order_id, load_id, source_line
        FROM staging.legacy_transactions
        WHERE sales_date = ANY (ARRAY(SELECT DISTINCT sales_date FROM core.repeated_orders
                                        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()))
    ) AS o USING (sales_date, order_id, load_id, source_line)
    WHERE r.sales_date >= percolate.interval_start() AND r.sales_date < percolate.interval_end()
)
SELECT branch,
       sales_date,
       hour,
       payment_method,
       sum(orders)::integer AS orders,
       sum(item_count)::integer AS items,
       sum(total) AS revenue
FROM summed
GROUP BY branch, sales_date, hour, payment_method
HAVING sum(orders) > 0
