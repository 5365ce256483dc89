-- materialized: incremental
-- time_column: sales_date
-- description: One row per basket item of each order, pointing at its product (product_id is md5 of size and product, as in core.product_days). branch is kept as the column a distributed engine would shard by.
-- tags: core
-- check: unique(order_id, item_no)
-- check: relationships(order_id -> core.orders.order_id)
-- check: relationships(product_id -> core.products.product_id)
-- check: sql SELECT o.order_id, o.total, i.items_total FROM core.orders AS o JOIN (SELECT order_id, sum(price) AS items_total FROM core.order_items WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end() GROUP BY order_id) AS i USING (order_id) WHERE o.sales_date >= percolate.interval_start() AND o.sales_date < percolate.interval_end() AND o.total <> i.items_total [warn]
SELECT DISTINCT ON (i.order_id, i.item_no)
       i.order_id,
       i.item_no,
       o.branch,
       i.sales_date,
       md5(coalesce(i.size, '') || '|' || i.product) AS product_id,
       i.price
FROM (
    SELECT order_id, item_no, size, product, price, sales_date, load_id
    FROM staging.transaction_items
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
    UNION ALL
    SELECT order_id, item_no, size, product, price, sales_date, load_id
    FROM staging.legacy_transaction_items
    WHERE sales_date >= percolate.interval_start() AND sales_date < percolate.interval_end()
) AS i
JOIN core.orders AS o ON o.order_id = i.order_id
 AND o.sales_date >= percolate.interval_start() AND o.sales_date < percolate.interval_end()
ORDER BY i.order_id, i.item_no, i.load_id
