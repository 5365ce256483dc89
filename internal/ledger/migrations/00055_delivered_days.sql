-- +goose Up
-- What the delivery check last read of a source's table, kept so that a
-- nightly check reads only the days loaded since (their files' days), not
-- every group's every day: 117 M sums rows at a thousand branches × ten
-- years.

-- delivered: each group's (a value of the column expect is per) first and
-- newest day in the source's table, and the days between without rows.
CREATE TABLE percolate.delivered (
    source text   NOT NULL,
    grp    text   NOT NULL,
    first  date   NOT NULL,
    newest date   NOT NULL,
    holes  date[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (source, grp)
);

-- delivered_marks: what delivered was read from (the table, by its oid,
-- and its group and day columns: another one is read whole again) and the
-- newest load_id of the manifest when it was.
CREATE TABLE percolate.delivered_marks (
    source    text   PRIMARY KEY,
    counted   text   NOT NULL,
    watermark bigint NOT NULL
);

-- +goose Down
DROP TABLE percolate.delivered_marks;
DROP TABLE percolate.delivered;
