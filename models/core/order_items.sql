-- materialized: incremental
-- time_column: sales_date
-- key: order_id, item_no
-- index: product_id
-- distributed_by: branch
-- description: One row per basket item of each order, numbered in basket order (item_no), each order's items once however often it was delivered. Keyed by (order_id, item_no).
-- tags: core
-- column item_no: the item's place in its basket, from 1
-- check: unique(order_id, item_no)
-- check: relationships(order_id -> core.orders.order_id)
-- check: relationships(product_id -> core.products.product_id)
--
-- Why it is built so: staging keeps each order's items in its row (an item
-- a line, its size, product and price parted by tabs); they are unnested
-- here, once, when the day is built. The repeated deliveries are left out
-- as core.orders leaves them. product_id is core.product_id(size, product), read
-- from core.products rather than hashed again per item. branch is kept as
-- the column a distributed engine shards by, and so that sums by branch
-- need no join.
WITH delivered AS NOT MATERIALIZED (
    SELECT order_id, branch, sales_date, items, load_id, source_line
    FROM staging.transactions
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT order_id, branch, sales_date, items, load_id, source_line
    FROM staging.legacy_transactions
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
), shared AS NOT MATERIALIZED (
    -- The branch-days searched for repeats, as in core.orders.
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
), kept AS (
    SELECT order_id, branch, sales_date, items
    FROM delivered AS d
    WHERE NOT EXISTS (SELECT FROM shared AS s WHERE s.sales_date = d.sales_date AND s.branch = d.branch)
    UNION ALL
    (
        SELECT DISTINCT ON (d.order_id, d.branch) d.order_id, d.branch, d.sales_date, d.items
        FROM delivered AS d
        JOIN shared AS s ON s.sales_date = d.sales_date AND s.branch = d.branch
        ORDER BY d.order_id, d.branch, d.load_id, d.source_line
    )
)
SELECT k.order_id,
       it.item_no::integer AS item_no,
       k.branch,
       k.sales_date,
       coalesce(p.product_id, core.product_id(it.size, it.product)) AS product_id,
       nullif(it.size, '') AS size,
       it.product,
       it.price
FROM kept AS k
CROSS JOIN LATERAL (
    SELECT split_part(u.item, E'\t', 1) AS size, split_part(u.item, E'\t', 2) AS product,
           split_part(u.item, E'\t', 3)::numeric(10,2) AS price, u.item_no
    FROM unnest(string_to_array(k.items, E'\n')) WITH ORDINALITY AS u(item, item_no)
) AS it
-- The product's id looked up, not hashed again for every item: md5 costs
-- about 2 µs a call (5 s of a year's 2.7 million items).
LEFT JOIN core.products AS p ON coalesce(p.size, '') = it.size AND p.product = it.product
