-- +goose Up
-- file_days: the days (in the source's time zone) each file has rows for,
-- so that a run rebuilds only the days of an incremental model that got new
-- data, and a replaced file's old days are known after its rows are gone.
CREATE TABLE percolate.file_days (
    load_id bigint NOT NULL REFERENCES percolate.files ON DELETE CASCADE,
    day     date   NOT NULL,
    PRIMARY KEY (load_id, day)
);
CREATE INDEX file_days_day ON percolate.file_days (day);

-- model_intervals: the days of each incremental model built, at which
-- version, by which run. A day missing at the current version is a gap that
-- the next run fills.
CREATE TABLE percolate.model_intervals (
    model    text        NOT NULL,
    day      date        NOT NULL,
    version  text        NOT NULL,
    run_id   bigint      REFERENCES percolate.runs,
    built_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, day)
);

-- watermark: the newest load a build had seen; files loaded (or replaced)
-- after it are new data for the model.
ALTER TABLE percolate.model_builds ADD COLUMN watermark bigint NOT NULL DEFAULT 0;

-- Item rows carry their order's day, so a day's items are found without
-- reading every order.
ALTER TABLE staging.transaction_items ADD COLUMN sales_date date;
ALTER TABLE staging.legacy_transaction_items ADD COLUMN sales_date date;
UPDATE staging.transaction_items i SET sales_date = t.sales_date
  FROM staging.transactions t WHERE t.load_id = i.load_id AND t.order_id = i.order_id AND t.source_line = i.source_line;
UPDATE staging.legacy_transaction_items i SET sales_date = t.sales_date
  FROM staging.legacy_transactions t WHERE t.load_id = i.load_id AND t.order_id = i.order_id AND t.source_line = i.source_line;
CREATE INDEX transaction_items_date_brin ON staging.transaction_items USING brin (sales_date);
CREATE INDEX legacy_transaction_items_date_brin ON staging.legacy_transaction_items USING brin (sales_date);

-- The interval an incremental model is being built for. Outside a build
-- they are unset, so a model's SQL pasted into psql reads every day.
CREATE FUNCTION percolate.interval_start() RETURNS date LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce(nullif(current_setting('percolate.interval_start', true), '')::date, '-infinity'::date) $$;
CREATE FUNCTION percolate.interval_end() RETURNS date LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT coalesce(nullif(current_setting('percolate.interval_end', true), '')::date, 'infinity'::date) $$;

-- +goose Down
DROP FUNCTION percolate.interval_end();
DROP FUNCTION percolate.interval_start();
ALTER TABLE staging.legacy_transaction_items DROP COLUMN sales_date;
ALTER TABLE staging.transaction_items DROP COLUMN sales_date;
ALTER TABLE percolate.model_builds DROP COLUMN watermark;
DROP TABLE percolate.model_intervals;
DROP TABLE percolate.file_days;
