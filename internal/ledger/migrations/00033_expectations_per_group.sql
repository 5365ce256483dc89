-- +goose Up
-- A delivery expectation is per any column a project declares (expect:
-- per:), not per branch: the finding's group is named for what it is.
ALTER TABLE percolate.expectations RENAME COLUMN branch TO group_value;

-- +goose Down
ALTER TABLE percolate.expectations RENAME COLUMN group_value TO branch;
