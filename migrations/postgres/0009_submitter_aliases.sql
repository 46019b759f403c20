-- Homologation sheets (issue 18 item 2): a submitter's own names for catalog
-- products, per counterparty NIT ('' = every counterparty), fed into catalog
-- matching for that submitter's invoices. The latest sheet wins per name.
CREATE TABLE submitter_aliases (
    account     TEXT    NOT NULL,
    nit         TEXT    NOT NULL,
    product     TEXT    NOT NULL,            -- as written on the sheet
    code        TEXT    NOT NULL,            -- catalog code
    job_id      BIGINT  NOT NULL,            -- the sheet that said so
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account, nit, product)
);
