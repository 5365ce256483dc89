-- materialized: table
-- key: product_id
-- distribution: reference
-- description: Every product by size. product is the name as sold ("Flavoured iced latte - Hazelnut"); name and flavour split it at its first " - ". Names differing only in case stay distinct products. Keyed by product_id (md5 of size and product, as core.order_items has it).
-- tags: core
-- check: unique(product_id)
-- check: not_null(product)
SELECT product_id,
       size,
       product,
       split_part(product, ' - ', 1) AS name,
       nullif(substr(product, length(split_part(product, ' - ', 1)) + 4), '') AS flavour,
       min(sales_date) AS first_sold,
       max(sales_date) AS last_sold
FROM core.product_days
GROUP BY product_id, size, product
