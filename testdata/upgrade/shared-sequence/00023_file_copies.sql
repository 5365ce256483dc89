-- +goose Up
-- Local files whose content was loaded from another path (a file delivered
-- again under a new name, and kept beside the first): the path's size and
-- modification time when it was read, and its content's hash. A run trusts
-- such a file unchanged, as it trusts a loaded one, while that content is
-- still loaded; before, it read every such file every night.
CREATE TABLE percolate.file_copies (
    source       text        NOT NULL,
    path         text        NOT NULL,
    size         bigint      NOT NULL,
    modified_at  timestamptz NOT NULL,
    content_hash text        NOT NULL,
    seen_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, path)
);

-- +goose Down
DROP TABLE percolate.file_copies;
