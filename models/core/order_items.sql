-- materialized: view
-- description: One row per basket item of each order, less the items of repeated deliveries (core.repeated_orders). product_id is md5 of size and product, as in core.products. branch is kept as the column a distributed engine would shard by, and so that sums by branch need no join. A view: item rows are written once, in staging. Its key (order_id, item_no) and its references to core.orders and core.products hold by construction: the loader numbers a row's items, and both views leave out the same repeated deliveries.
-- tags: core
SELECT i.order_id,
       i.item_no,
       i.branch,
       i.sales_date,
       md5(coalesce(i.size, '') || '|' || i.product) AS product_id,
       i.size,
       i.product,
       i.price
FROM (
    SELECT order_id, item_no, branch, sales_date, size, product, price, load_id, source_line
    FROM staging.transaction_items
    UNION ALL
    SELECT order_id, item_no, branch, sales_date, size, product, price, load_id, source_line
    FROM staging.legacy_transaction_items
) AS i
WHERE NOT EXISTS (SELECT FROM core.repeated_orders AS r WHERE r.load_id = i.load_id AND r.source_line = i.source_line)
