-- +goose Up
-- Releases before this one could store a value read from a file in a
-- refused file's reason and a reject's reasons and raw row: a card number
-- from a file whose columns were out of place, say. Runs from now on mask
-- what they store; this masks what earlier ones stored: every run of 13 to
-- 19 digits (whole or in groups parted by a space or a dash, as card
-- numbers are written) and every e-mail address. It masks more than the
-- loader does (no Luhn check in SQL), which for a stored reason is no loss.
UPDATE percolate.files
SET reason = regexp_replace(regexp_replace(reason,
        '\d(?:[ -]?\d){12,18}', '***', 'g'),
        '[[:alnum:]._%+-]+@[[:alnum:].-]+\.[[:alpha:]]{2,}', '***', 'g')
WHERE reason ~ '\d(?:[ -]?\d){12,18}|@';
UPDATE percolate.rejects
SET reason = regexp_replace(regexp_replace(reason,
        '\d(?:[ -]?\d){12,18}', '***', 'g'),
        '[[:alnum:]._%+-]+@[[:alnum:].-]+\.[[:alpha:]]{2,}', '***', 'g'),
    raw = regexp_replace(regexp_replace(raw,
        '\d(?:[ -]?\d){12,18}', '***', 'g'),
        '[[:alnum:]._%+-]+@[[:alnum:].-]+\.[[:alpha:]]{2,}', '***', 'g')
WHERE reason ~ '\d(?:[ -]?\d){12,18}|@' OR raw ~ '\d(?:[ -]?\d){12,18}|@';

-- +goose Down
-- What was masked is gone: nothing to bring back.
SELECT 1;
