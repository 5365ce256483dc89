-- materialized: table
-- description: One row per basket item of each order, pointing at its product. branch is kept as the column a distributed engine would shard by.
-- tags: core
-- check: unique(order_id, item_no)
-- check: relationships(order_id -> core.orders.order_id)
-- check: relationships(product_id -> core.products.product_id)
-- check: sql SELECT o.order_id, o.total, i.items_total FROM core.orders AS o JOIN (SELECT order_id, sum(price) AS items_total FROM core.order_items GROUP BY order_id) AS i USING (order_id) WHERE o.total <> i.items_total [warn]
SELECT DISTINCT ON (i.order_id, i.item_no)
       i.order_id,
       i.item_no,
       o.branch,
       o.sales_date,
       p.product_id,
       i.price
FROM (
    SELECT order_id, item_no, size, product, price, load_id FROM staging.transaction_items
    UNION ALL
    SELECT order_id, item_no, size, product, price, load_id FROM staging.legacy_transaction_items
) AS i
JOIN core.orders AS o USING (order_id)
JOIN core.products AS p
  ON p.product = i.product AND p.size IS NOT DISTINCT FROM i.size
ORDER BY i.order_id, i.item_no, i.load_id
