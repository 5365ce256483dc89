-- materialized: table
-- description: Every product by size. product is the name as sold ("Flavoured iced latte - Hazelnut"); name and flavour split it at its first " - ". Names differing only in case stay distinct products.
-- tags: core
-- check: unique(product_id)
-- check: not_null(product)
SELECT md5(coalesce(size, '') || '|' || product) AS product_id,
       size,
       product,
       split_part(product, ' - ', 1) AS name,
       nullif(substr(product, length(split_part(product, ' - ', 1)) + 4), '') AS flavour
FROM (
    SELECT size, product FROM staging.transaction_items
    UNION
    SELECT size, product FROM staging.legacy_transaction_items
) AS sold
