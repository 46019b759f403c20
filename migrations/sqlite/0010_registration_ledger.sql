-- Notes adjust registrations (issue 17 item 4). The registrations table becomes
-- a ledger: the invoice's own row (kind 'registration', seq 0) and one row per
-- credit or debit note applied to it (kind 'adjustment' or 'cancellation',
-- adjusts = the invoice's job, seq 1, 2, ...). value and commission of a note's
-- row are the change it made (negative for a credit); net_value and
-- net_commission are the registration's figures after the row; pricing is the
-- registration's pricing input after the row (JSON), used to reprice the next
-- note with the rules of the original registration date. Reports sum the
-- ledger, so a day or month shows the net effect of its notes.
ALTER TABLE registrations ADD COLUMN kind TEXT NOT NULL DEFAULT 'registration'
    CHECK (kind IN ('registration', 'adjustment', 'cancellation'));
ALTER TABLE registrations ADD COLUMN adjusts INTEGER;
ALTER TABLE registrations ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE registrations ADD COLUMN net_value TEXT NOT NULL DEFAULT '0';
ALTER TABLE registrations ADD COLUMN net_commission TEXT NOT NULL DEFAULT '0';
ALTER TABLE registrations ADD COLUMN pricing TEXT;
UPDATE registrations SET net_value = value, net_commission = commission;
-- Two notes applied at once to one registration: the second insert fails here
-- and its job runs again on the new state.
CREATE UNIQUE INDEX registrations_chain ON registrations (adjusts, seq) WHERE adjusts IS NOT NULL;
CREATE INDEX registrations_cufe ON registrations (lower(cufe)) WHERE kind = 'registration';
