-- materialized: view
-- description: One row per basket item of each order, less the items of repeated deliveries (core.repeated_orders). product_id is md5 of size and product, as in core.products. branch is kept as the column a distributed engine would shard by, and so that sums by branch need no join. A view: each order's items are kept in its staging row (items: an item a line, its size, product and price parted by tabs), unnested here. Its key (order_id, item_no) and its references to core.orders and core.products hold by construction: the loader numbers a row's items, and both views leave out the same repeated deliveries.
-- tags: core
SELECT o.order_id,
       it.item_no::integer AS item_no,
       o.branch,
       o.sales_date,
       md5(split_part(it.item, E'\t', 1) || '|' || split_part(it.item, E'\t', 2)) AS product_id,
       nullif(split_part(it.item, E'\t', 1), '') AS size,
       split_part(it.item, E'\t', 2) AS product,
       split_part(it.item, E'\t', 3)::numeric(10,2) AS price
FROM (
    SELECT order_id, branch, sales_date, items, load_id, source_line
    FROM staging.transactions
    UNION ALL
    SELECT order_id, branch, sales_date, items, load_id, source_line
    FROM staging.legacy_transactions
) AS o
CROSS JOIN LATERAL unnest(string_to_array(o.items, E'\n')) WITH ORDINALITY AS it(item, item_no)
WHERE NOT EXISTS (SELECT FROM core.repeated_orders AS r WHERE r.load_id = o.load_id AND r.source_line = o.source_line)
