-- materialized: incremental
-- time_column: sales_date
-- distributed_by: branch
-- description: Sales per branch, day and product by size: quantity sold and revenue (sum of item prices). Summed from the files' item sums (the loader counts each file's items by day, branch, size and product), less the items of repeated deliveries, which are in their files' sums but not in the warehouse: one row per file and product sold is read, not every item.
-- tags: marts
-- check: unique(branch, sales_date, product, size)
WITH sold AS (
    SELECT branch, sales_date, product, size, quantity, revenue
    FROM staging.transaction_item_sums
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT branch, sales_date, product, size, quantity, revenue
    FROM staging.legacy_transaction_item_sums
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    -- The repeated deliveries' items, read on their days only: each day
    -- once in the array (DISTINCT), not once per repeat, which every row
    -- read and every index scan would test (a year re-sent took minutes).
    -- The order id in the join, the same row's, is what makes it a hash
    -- join: the planner costs a hash by its keys' most distinct column, and
    -- a file's lines alone looked too few to hash (it sorted the year's
    -- rows to disk).
    SELECT o.branch, o.sales_date, split_part(it.item, E'\t', 2), nullif(split_part(it.item, E'\t', 1), ''),
           -1, -split_part(it.item, E'\t', 3)::numeric(10,2)
    FROM core.repeated_orders AS r
    JOIN (
        SELECT branch, sales_date, items, order_id, load_id, source_line
        FROM staging.transactions
        WHERE sales_date = ANY (ARRAY(SELECT DISTINCT sales_date FROM core.repeated_orders
                                        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()))
        UNION ALL
        SELECT branch, sales_date, items, order_id, load_id, source_line
        FROM staging.legacy_transactions
        WHERE sales_date = ANY (ARRAY(SELECT DISTINCT sales_date FROM core.repeated_orders
                                        WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()))
    ) AS o USING (sales_date, order_id, load_id, source_line)
    CROSS JOIN LATERAL unnest(string_to_array(o.items, E'\n')) AS it(item)
    WHERE r.sales_date >= percolate.interval_start() AND r.sales_date < percolate.interval_end()
)
SELECT branch,
       sales_date,
       product,
       size,
       sum(quantity)::integer AS quantity,
       sum(revenue) AS revenue
FROM sold
GROUP BY branch, sales_date, product, size
HAVING sum(quantity) > 0
