//! One small SQL layer over the two backends, each with its native types.
//!
//! The store's queries are written once, with `?` placeholders (rewritten to
//! `$1, $2, ...` for PostgreSQL). Arguments and columns say what they mean
//! rather than how they are stored:
//!
//! | meaning              | SQLite            | PostgreSQL    | Rust side      |
//! |----------------------|-------------------|---------------|----------------|
//! | instant ([`Arg::Time`]) | INTEGER (unix ms) | TIMESTAMPTZ | `i64` unix ms  |
//! | money ([`Arg::Money`])  | TEXT (exact)      | NUMERIC     | decimal string |
//! | day ([`Arg::Day`])      | TEXT `YYYY-MM-DD` | DATE        | `YYYY-MM-DD`   |
//! | integers, text, bytes   | INTEGER/TEXT/BLOB | BIGINT/TEXT/BYTEA | as is    |
//!
//! Where the dialects really differ (write locks, `SKIP LOCKED` claims), the
//! caller asks [`Db::backend`] and passes different SQL.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    /// An instant as unix milliseconds.
    Time(Option<i64>),
    /// An exact decimal, as its string.
    Money(String),
    /// A calendar day, `YYYY-MM-DD`.
    Day(String),
}

impl Arg {
    pub fn time(ms: i64) -> Arg {
        Arg::Time(Some(ms))
    }
    pub fn money(s: impl Into<String>) -> Arg {
        Arg::Money(s.into())
    }
    pub fn day(s: impl Into<String>) -> Arg {
        Arg::Day(s.into())
    }
    pub fn bytes(b: Option<&[u8]>) -> Arg {
        Arg::Bytes(b.map(<[u8]>::to_vec))
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Arg {
        Arg::Int(Some(i64::from(v)))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}

/// `args![a, b, ...]`: a list of [`Arg`]s from plain values.
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$($crate::store::db::Arg::from($a)),*] };
}
pub(crate) use args;

/// `?` placeholders to PostgreSQL's `$n`, outside quoted literals.
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let (mut n, mut quoted) = (0, false);
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

fn encode_err(what: &str, v: &str) -> sqlx::Error {
    sqlx::Error::Encode(format!("not a valid {what}: {v:?}").into())
}

fn sqlite_query(sql: &str, args: Vec<Arg>) -> Query<'static, Sqlite, SqliteArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
    for a in args {
        q = match a {
            Arg::Int(v) | Arg::Time(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
            Arg::Money(s) | Arg::Day(s) => q.bind(s),
        };
    }
    q
}

fn pg_query(
    sql: &str,
    args: Vec<Arg>,
) -> Result<Query<'static, Postgres, PgArguments>, sqlx::Error> {
    let mut q = sqlx::query(AssertSqlSafe(pg_sql(sql)));
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Bytes(v) => q.bind(v),
            Arg::Time(v) => q.bind(v.map(|ms| {
                DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
            })),
            Arg::Money(s) => q.bind(Decimal::from_str(&s).map_err(|_| encode_err("decimal", &s))?),
            Arg::Day(s) => q.bind(
                NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| encode_err("day", &s))?,
            ),
        };
    }
    Ok(q)
}

/// A result row of either backend, read by meaning.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Pg(PgRow),
}

impl DbRow {
    pub fn int(&self, c: &str) -> Result<i64, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => r.try_get(c),
        }
    }
    pub fn opt_int(&self, c: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => r.try_get(c),
        }
    }
    pub fn text(&self, c: &str) -> Result<String, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => r.try_get(c),
        }
    }
    pub fn opt_text(&self, c: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => r.try_get(c),
        }
    }
    pub fn opt_bytes(&self, c: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => r.try_get(c),
        }
    }
    pub fn opt_time(&self, c: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => Ok(r
                .try_get::<Option<DateTime<Utc>>, _>(c)?
                .map(|t| t.timestamp_millis())),
        }
    }
    pub fn time(&self, c: &str) -> Result<i64, sqlx::Error> {
        self.opt_time(c)?.ok_or_else(|| sqlx::Error::ColumnDecode {
            index: c.to_owned(),
            source: "unexpected NULL instant".into(),
        })
    }
    pub fn money(&self, c: &str) -> Result<String, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => Ok(r.try_get::<Decimal, _>(c)?.to_string()),
        }
    }
    pub fn day(&self, c: &str) -> Result<String, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(c),
            DbRow::Pg(r) => Ok(r.try_get::<NaiveDate, _>(c)?.to_string()),
        }
    }
}

/// A borrowed connection of either backend: where queries actually run.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
}

impl Conn<'_> {
    pub async fn fetch_all(self, sql: &str, args: Vec<Arg>) -> Result<Vec<DbRow>, sqlx::Error> {
        Ok(match self {
            Conn::Sqlite(c) => sqlite_query(sql, args)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Conn::Pg(c) => pg_query(sql, args)?
                .fetch_all(c)
                .await?
                .into_iter()
                .map(DbRow::Pg)
                .collect(),
        })
    }

    pub async fn fetch_optional(
        self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<DbRow>, sqlx::Error> {
        Ok(match self {
            Conn::Sqlite(c) => sqlite_query(sql, args)
                .fetch_optional(c)
                .await?
                .map(DbRow::Sqlite),
            Conn::Pg(c) => pg_query(sql, args)?.fetch_optional(c).await?.map(DbRow::Pg),
        })
    }

    pub async fn fetch_one(self, sql: &str, args: Vec<Arg>) -> Result<DbRow, sqlx::Error> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Rows affected.
    pub async fn execute(self, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Conn::Sqlite(c) => sqlite_query(sql, args).execute(c).await?.rows_affected(),
            Conn::Pg(c) => pg_query(sql, args)?.execute(c).await?.rows_affected(),
        })
    }

    /// Visit every row without holding them all in memory.
    pub async fn for_each<E>(
        self,
        sql: &str,
        args: Vec<Arg>,
        mut f: impl FnMut(DbRow) -> Result<(), E>,
    ) -> Result<Result<(), E>, sqlx::Error> {
        match self {
            Conn::Sqlite(c) => {
                let mut rows = sqlite_query(sql, args).fetch(c);
                while let Some(r) = rows.try_next().await? {
                    if let Err(e) = f(DbRow::Sqlite(r)) {
                        return Ok(Err(e));
                    }
                }
            }
            Conn::Pg(c) => {
                let mut rows = pg_query(sql, args)?.fetch(c);
                while let Some(r) = rows.try_next().await? {
                    if let Err(e) = f(DbRow::Pg(r)) {
                        return Ok(Err(e));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    /// Several statements without arguments (migrations).
    pub async fn execute_script(self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(c)
                    .await?;
            }
            Conn::Pg(c) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(c)
                    .await?;
            }
        }
        Ok(())
    }
}

/// A pool of either backend; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// With the gate that queues this process's write transactions.
    Sqlite(SqlitePool, WriteGate),
    Pg(PgPool),
}

/// SQLite has one writer at a time. Writers of this process queue on this
/// async lock (first come, first served) instead of on SQLite's busy
/// handler, which sleeps between retries (1, 2, 5, 10 ... 100 ms) and left
/// the machine idle while transactions waited. Other processes (the CLI)
/// still meet the busy handler, as before. Waiting longer than the store's
/// busy timeout fails like a busy database (a transient error).
#[derive(Debug, Clone)]
pub(crate) struct WriteGate {
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    timeout: std::time::Duration,
}

impl WriteGate {
    pub fn new(timeout: std::time::Duration) -> WriteGate {
        WriteGate {
            lock: Default::default(),
            timeout,
        }
    }

    async fn enter(&self) -> Result<tokio::sync::OwnedMutexGuard<()>, sqlx::Error> {
        tokio::time::timeout(self.timeout, self.lock.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)
    }
}

/// A connection checked out of a [`Db`].
pub(crate) enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

impl Pooled {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Pg(c) => Conn::Pg(c),
        }
    }
}

/// An open transaction of either backend, with the rows it appends in bulk
/// at commit (audit rows, commission lines): each is one statement per
/// transaction instead of one per row, which on PostgreSQL is one round trip
/// and on SQLite one hand-off to the connection's thread.
pub(crate) struct Tx {
    inner: TxInner,
    audit: Vec<AuditRow>,
}

enum TxInner {
    /// Holds the write gate until it ends.
    Sqlite(
        Transaction<'static, Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
    Pg(Transaction<'static, Postgres>),
}

/// An audit row waiting for its transaction's commit.
#[derive(Debug, serde::Serialize)]
pub(crate) struct AuditRow {
    pub at: i64,
    pub account: Option<String>,
    pub job_id: Option<i64>,
    pub event: String,
    pub detail: String,
}

const AUDIT_INSERT: &str =
    "INSERT INTO audit (at, account, job_id, event, detail) VALUES (?, ?, ?, ?, ?)";

/// Many rows in one statement with one argument, the same SQL whatever
/// their number (so it stays one prepared statement): a JSON array of row
/// objects, unpacked by the database (`json_each` on SQLite,
/// `json_array_elements` on PostgreSQL), in array order. `columns` are the
/// table's columns and the objects' keys, each with its PostgreSQL cast
/// (`timestamptz` for an instant in unix milliseconds, `text` for none).
/// The SQL of each backend is built once.
pub(crate) struct BulkInsert {
    table: &'static str,
    columns: &'static [(&'static str, &'static str)],
    sqlite: std::sync::OnceLock<String>,
    pg: std::sync::OnceLock<String>,
}

impl BulkInsert {
    pub const fn new(
        table: &'static str,
        columns: &'static [(&'static str, &'static str)],
    ) -> BulkInsert {
        BulkInsert {
            table,
            columns,
            sqlite: std::sync::OnceLock::new(),
            pg: std::sync::OnceLock::new(),
        }
    }

    pub fn sql(&self, backend: Backend) -> &str {
        let (table, columns) = (self.table, self.columns);
        let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
        let names = names.join(", ");
        match backend {
            Backend::Sqlite => self.sqlite.get_or_init(|| {
                let values: Vec<String> = columns
                    .iter()
                    .map(|(n, _)| format!("json_extract(value, '$.{n}')"))
                    .collect();
                format!(
                    "INSERT INTO {table} ({names}) SELECT {} FROM json_each(?) ORDER BY key",
                    values.join(", ")
                )
            }),
            Backend::Postgres => self.pg.get_or_init(|| {
                let values: Vec<String> = columns
                    .iter()
                    .map(|(n, ty)| match *ty {
                        "timestamptz" => format!(
                            "TIMESTAMPTZ 'epoch' + CAST(e->>'{n}' AS BIGINT) * INTERVAL '1 millisecond'"
                        ),
                        "text" => format!("e->>'{n}'"),
                        ty => format!("CAST(e->>'{n}' AS {ty})"),
                    })
                    .collect();
                format!(
                    "INSERT INTO {table} ({names}) SELECT {} FROM json_array_elements(CAST(? AS JSON)) WITH ORDINALITY AS t(e, n) ORDER BY n",
                    values.join(", ")
                )
            }),
        }
    }
}

static AUDIT_BULK: BulkInsert = BulkInsert::new(
    "audit",
    &[
        ("at", "timestamptz"),
        ("account", "text"),
        ("job_id", "BIGINT"),
        ("event", "text"),
        ("detail", "text"),
    ],
);

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t, _) => Conn::Sqlite(t),
            TxInner::Pg(t) => Conn::Pg(t),
        }
    }
    pub async fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<DbRow>, sqlx::Error> {
        self.conn().fetch_all(sql, args).await
    }
    pub async fn fetch_optional(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<DbRow>, sqlx::Error> {
        self.conn().fetch_optional(sql, args).await
    }
    pub async fn fetch_one(&mut self, sql: &str, args: Vec<Arg>) -> Result<DbRow, sqlx::Error> {
        self.conn().fetch_one(sql, args).await
    }
    pub async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
        self.conn().execute(sql, args).await
    }
    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(..) => Backend::Sqlite,
            TxInner::Pg(_) => Backend::Postgres,
        }
    }
    /// Append an audit row; it is written with the others at commit, in
    /// the order they were appended (nothing reads the audit trail inside
    /// the transaction that writes it).
    pub fn defer_audit(&mut self, row: AuditRow) {
        self.audit.push(row);
    }
    async fn flush_audit(&mut self) -> Result<(), sqlx::Error> {
        let rows = std::mem::take(&mut self.audit);
        match rows.as_slice() {
            [] => Ok(()),
            [r] => {
                let a = vec![
                    Arg::time(r.at),
                    Arg::Text(r.account.clone()),
                    Arg::Int(r.job_id),
                    Arg::from(r.event.as_str()),
                    Arg::from(r.detail.as_str()),
                ];
                self.execute(AUDIT_INSERT, a).await.map(drop)
            }
            rows => {
                let json =
                    serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let sql = AUDIT_BULK.sql(self.backend());
                self.execute(sql, vec![Arg::Text(Some(json))])
                    .await
                    .map(drop)
            }
        }
    }
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.flush_audit().await?;
        match self.inner {
            TxInner::Sqlite(t, _gate) => t.commit().await,
            TxInner::Pg(t) => t.commit().await,
        }
    }
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Pg(_) => Backend::Postgres,
        }
    }

    pub async fn acquire(&self) -> Result<Pooled, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(p, _) => Pooled::Sqlite(p.acquire().await?),
            Db::Pg(p) => Pooled::Pg(p.acquire().await?),
        })
    }

    /// A write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock
    /// up front, so concurrent writers wait instead of failing when a read
    /// lock cannot be upgraded, and this process's writers queue on the
    /// [`WriteGate`] first; PostgreSQL locks rows as it goes.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok::<_, sqlx::Error>(match self {
            Db::Sqlite(p, gate) => {
                let turn = gate.enter().await?;
                TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Db::Pg(p) => TxInner::Pg(p.begin().await?),
        })
        .map(|inner| Tx {
            inner,
            audit: Vec::new(),
        })
    }

    pub async fn fetch_all(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<DbRow>, sqlx::Error> {
        self.acquire().await?.conn().fetch_all(sql, args).await
    }
    pub async fn fetch_optional(
        &self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<DbRow>, sqlx::Error> {
        self.acquire().await?.conn().fetch_optional(sql, args).await
    }
    pub async fn fetch_one(&self, sql: &str, args: Vec<Arg>) -> Result<DbRow, sqlx::Error> {
        self.acquire().await?.conn().fetch_one(sql, args).await
    }
    pub async fn execute(&self, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error> {
        self.acquire().await?.conn().execute(sql, args).await
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, _) => p.close().await,
            Db::Pg(p) => p.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pg_sql;

    #[test]
    fn placeholders_become_numbered_outside_literals() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ? AND c IN ('?', 'x') AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c IN ('?', 'x') AND d = $2"
        );
    }
}
