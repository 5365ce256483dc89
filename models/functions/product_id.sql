-- A product's id: md5 of its size (empty when it has none) and its name as
-- sold, the one rule core.product_days and core.order_items make product_id
-- by, so that their ids match. Inlined where it is called (IMMUTABLE, one
-- expression): it costs what the expression costs.
CREATE FUNCTION core.product_id(size text, product text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN md5(coalesce(size, '') || '|' || product);
