-- +goose Up
-- repeated: true for an order row whose id came earlier in the same file,
-- as the loader saw it (NULL where it could not tell). With it, the
-- repeated deliveries of orders are found without hashing every order:
-- within a file the loader has told them, and across files they can only
-- be on a branch's day that more than one file delivers.
ALTER TABLE staging.transactions ADD COLUMN repeated boolean;
ALTER TABLE staging.legacy_transactions ADD COLUMN repeated boolean;
UPDATE staging.transactions t SET repeated = r.n > 1
  FROM (SELECT load_id, source_line, row_number() OVER (PARTITION BY load_id, order_id ORDER BY source_line) AS n
        FROM staging.transactions) r
  WHERE r.load_id = t.load_id AND r.source_line = t.source_line;
UPDATE staging.legacy_transactions t SET repeated = r.n > 1
  FROM (SELECT load_id, source_line, row_number() OVER (PARTITION BY load_id, order_id ORDER BY source_line) AS n
        FROM staging.legacy_transactions) r
  WHERE r.load_id = t.load_id AND r.source_line = t.source_line;

-- +goose Down
ALTER TABLE staging.legacy_transactions DROP COLUMN repeated;
ALTER TABLE staging.transactions DROP COLUMN repeated;
