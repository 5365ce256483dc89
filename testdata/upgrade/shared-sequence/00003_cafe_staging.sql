-- +goose Up
-- Staging tables of the cafe pipeline's two sources. Their columns are the
-- non-personal columns of each source's contract in pipelines.yaml plus the
-- derived ones (order_id, sales_date, ordered_local); baskets land exploded,
-- one row per item. Customer names and card numbers have no column here.
CREATE TABLE staging.transactions (
    load_id        bigint        NOT NULL,
    source_file    text          NOT NULL,
    source_line    integer       NOT NULL,
    order_id       text          NOT NULL,
    ordered_at     timestamptz   NOT NULL,
    ordered_local  timestamp     NOT NULL,
    sales_date     date          NOT NULL,
    branch         text          NOT NULL,
    total          numeric(10,2) NOT NULL,
    payment_method text          NOT NULL
);
CREATE INDEX ON staging.transactions (load_id);
CREATE INDEX ON staging.transactions (sales_date);

CREATE TABLE staging.transaction_items (
    load_id     bigint        NOT NULL,
    source_file text          NOT NULL,
    source_line integer       NOT NULL,
    order_id    text          NOT NULL,
    item_no     integer       NOT NULL,
    size        text,
    product     text          NOT NULL,
    price       numeric(10,2) NOT NULL
);
CREATE INDEX ON staging.transaction_items (load_id);
CREATE INDEX ON staging.transaction_items (order_id);

CREATE TABLE staging.legacy_transactions (LIKE staging.transactions INCLUDING ALL);
CREATE TABLE staging.legacy_transaction_items (LIKE staging.transaction_items INCLUDING ALL);

-- +goose Down
DROP TABLE staging.legacy_transaction_items;
DROP TABLE staging.legacy_transactions;
DROP TABLE staging.transaction_items;
DROP TABLE staging.transactions;
