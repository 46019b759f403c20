//! DIAN validation of UBL 2.1 documents (pure: bytes and values in, findings out).
//!
//! **Architecture Invariant:** `dian/` never does IO: no files, no SQL, no clock
//! reads (the caller passes "now").
