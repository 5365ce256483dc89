-- +goose Up
-- Objects in a bucket whose content was loaded from another key (an object
-- put again under a new key): the key's ETag and size when it was read,
-- and its content's hash. A run trusts such an object by its listing, as
-- it trusts one loaded at its own key, while that content is still
-- loaded; before, it downloaded every such object in full on every run.
CREATE TABLE percolate.object_copies (
    source       text        NOT NULL,
    path         text        NOT NULL,
    etag         text        NOT NULL,
    size         bigint      NOT NULL,
    content_hash text        NOT NULL,
    seen_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, path)
);

-- +goose Down
DROP TABLE percolate.object_copies;
