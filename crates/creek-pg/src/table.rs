//! The seed's `customers` table: its DDL, identifier quoting, and the bulk insert
//! (one binary `COPY ... FROM STDIN` per batch).

use anyhow::{bail, Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use chrono::{NaiveDate, NaiveDateTime};
use futures::SinkExt;
use tokio_postgres::{Client, Statement};

use crate::generator::Customer;

/// The seed's columns, in order, with their PostgreSQL types. No primary key, no
/// index, every column nullable — what pandas' `to_sql` created in the seed.
pub const CUSTOMER_COLUMNS: [(&str, &str); 9] = [
    ("nome", "text"),
    ("sexo", "text"),
    ("endereco", "text"),
    ("telefone", "text"),
    ("email", "text"),
    ("foto", "text"),
    ("nascimento", "date"),
    ("profissao", "text"),
    ("dt_update", "timestamp without time zone"),
];

/// Quotes a table name given on the command line as a PostgreSQL identifier:
/// `customers` → `"customers"`, `public.customers` → `"public"."customers"`.
/// Parts already in double quotes keep their content (so `"my.table"` is one part);
/// unquoted parts are taken verbatim, case included, as SQLAlchemy does.
pub fn quote_table(name: &str) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut quoted_part = false;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if current.is_empty() && !quoted_part => {
                // A quoted part: read to the closing quote, "" is a literal quote.
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            current.push('"');
                        }
                        Some('"') => break,
                        Some(other) => current.push(other),
                        None => bail!("table name {name:?}: unterminated quoted identifier"),
                    }
                }
                quoted_part = true;
            }
            '.' => {
                parts.push(std::mem::take(&mut current));
                quoted_part = false;
            }
            _ if quoted_part => bail!("table name {name:?}: text after a closing quote"),
            other => current.push(other),
        }
    }
    parts.push(current);
    if parts.len() > 2 {
        bail!("table name {name:?}: expected TABLE or SCHEMA.TABLE");
    }
    if parts.iter().any(|p| p.is_empty()) {
        bail!("table name {name:?}: empty identifier");
    }
    if parts.iter().any(|p| p.contains('\0')) {
        bail!("table name {name:?}: NUL character");
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join("."))
}

/// The `CREATE TABLE IF NOT EXISTS` statement for the seed's table under `table`.
pub fn create_table_sql(table: &str) -> Result<String> {
    let columns = CUSTOMER_COLUMNS
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {} ({columns})",
        quote_table(table)?
    ))
}

/// Creates the seed's table when it is missing; an existing table is left alone
/// (rows are appended to it).
pub async fn ensure_table(client: &Client, table: &str) -> Result<()> {
    let sql = create_table_sql(table)?;
    client
        .batch_execute(&sql)
        .await
        .with_context(|| format!("creating table {table}"))
}

/// Appends `rows` to `table` with one binary `COPY ... FROM STDIN`. PostgreSQL runs a
/// COPY statement as a single transaction, so the batch is all-or-nothing and
/// committed when this returns. Returns the number of rows written.
pub async fn insert_batch(client: &Client, table: &str, rows: &[Customer]) -> Result<u64> {
    CopyWriter::prepare(client, table)
        .await?
        .write(client, encode_copy(rows))
        .await
}

/// The seed's binary COPY into one table, prepared once on a connection so that each
/// batch costs a single COPY exchange (no Parse round trip). Pair it with
/// [`encode_copy`] to encode the next batch elsewhere while one is being written.
pub struct CopyWriter {
    statement: Statement,
    table: String,
}

impl CopyWriter {
    pub async fn prepare(client: &Client, table: &str) -> Result<CopyWriter> {
        let columns = CUSTOMER_COLUMNS
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "COPY {} ({columns}) FROM STDIN (FORMAT binary)",
            quote_table(table)?
        );
        let statement = client
            .prepare(&sql)
            .await
            .with_context(|| format!("preparing COPY into {table}"))?;
        Ok(CopyWriter {
            statement,
            table: table.to_owned(),
        })
    }

    /// Sends one batch encoded by [`encode_copy`] as one COPY statement (one
    /// transaction, committed when this returns). `client` must be the connection the
    /// writer was prepared on. Returns the number of rows written.
    pub async fn write(&self, client: &Client, data: Bytes) -> Result<u64> {
        let table = &self.table;
        let sink = client
            .copy_in::<_, Bytes>(&self.statement)
            .await
            .with_context(|| format!("starting COPY into {table}"))?;
        futures::pin_mut!(sink);
        sink.send(data)
            .await
            .with_context(|| format!("COPY into {table}"))?;
        sink.finish()
            .await
            .with_context(|| format!("COPY into {table}"))
    }
}

/// PostgreSQL's binary COPY format for the seed's columns: signature, flags and
/// header-extension length, then per row a field count and length-prefixed fields,
/// then the -1 trailer. Dates and timestamps are counted from 2000-01-01.
pub fn encode_copy(rows: &[Customer]) -> Bytes {
    let text_bytes: usize = rows
        .iter()
        .map(|c| {
            c.nome.len()
                + c.endereco.len()
                + c.telefone.len()
                + c.email.len()
                + c.foto.len()
                + c.profissao.len()
        })
        .sum();
    let mut buf = BytesMut::with_capacity(21 + rows.len() * (2 + 9 * 4 + 1 + 4 + 8) + text_bytes);
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0); // flags: no OIDs
    buf.put_i32(0); // header extension length
    for c in rows {
        buf.put_i16(CUSTOMER_COLUMNS.len() as i16);
        put_text(&mut buf, &c.nome);
        put_text(&mut buf, c.sexo);
        put_text(&mut buf, &c.endereco);
        put_text(&mut buf, &c.telefone);
        put_text(&mut buf, &c.email);
        put_text(&mut buf, &c.foto);
        buf.put_i32(4);
        buf.put_i32(pg_days(c.nascimento));
        put_text(&mut buf, &c.profissao);
        buf.put_i32(8);
        buf.put_i64(pg_micros(c.dt_update));
    }
    buf.put_i16(-1);
    buf.freeze()
}

fn put_text(buf: &mut BytesMut, s: &str) {
    buf.put_i32(s.len() as i32);
    buf.put_slice(s.as_bytes());
}

fn pg_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date")
}

/// Days since 2000-01-01 (PostgreSQL's binary `date`).
fn pg_days(d: NaiveDate) -> i32 {
    (d - pg_epoch()).num_days() as i32
}

/// Microseconds since 2000-01-01 00:00 (PostgreSQL's binary `timestamp`).
fn pg_micros(t: NaiveDateTime) -> i64 {
    (t - pg_epoch().and_hms_opt(0, 0, 0).expect("valid time"))
        .num_microseconds()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_table("customers").unwrap(), r#""customers""#);
        assert_eq!(
            quote_table("public.customers").unwrap(),
            r#""public"."customers""#
        );
        assert_eq!(quote_table("Customers").unwrap(), r#""Customers""#);
        assert_eq!(quote_table(r#"a"b"#).unwrap(), r#""a""b""#);
        assert_eq!(quote_table(r#""my.table""#).unwrap(), r#""my.table""#);
        assert_eq!(quote_table(r#"s."we""ird""#).unwrap(), r#""s"."we""ird""#);
        assert_eq!(
            quote_table("x; DROP TABLE y").unwrap(),
            r#""x; DROP TABLE y""#
        );
        for bad in ["", ".t", "s.", "a.b.c", r#""open"#, r#""a"b"#] {
            assert!(quote_table(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn ddl() {
        assert_eq!(
            create_table_sql("customers").unwrap(),
            "CREATE TABLE IF NOT EXISTS \"customers\" (nome text, sexo text, endereco text, \
             telefone text, email text, foto text, nascimento date, profissao text, \
             dt_update timestamp without time zone)"
        );
    }

    #[test]
    fn binary_copy_layout() {
        let c = Customer {
            nome: "Ana".into(),
            sexo: "F",
            endereco: "R\nX".into(),
            telefone: "1".into(),
            email: "a@example.org".into(),
            foto: "u".into(),
            nascimento: NaiveDate::from_ymd_opt(2000, 1, 2).unwrap(),
            profissao: "p".into(),
            dt_update: NaiveDate::from_ymd_opt(2000, 1, 1)
                .unwrap()
                .and_hms_micro_opt(0, 0, 1, 5)
                .unwrap(),
        };
        let b = encode_copy(std::slice::from_ref(&c));
        assert_eq!(&b[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&b[11..19], &[0u8; 8]);
        assert_eq!(&b[19..21], &9i16.to_be_bytes());
        assert_eq!(&b[21..25], &3i32.to_be_bytes());
        assert_eq!(&b[25..28], b"Ana");
        assert_eq!(&b[b.len() - 2..], &(-1i16).to_be_bytes());
        // timestamp: the 8 bytes before the trailer
        let ts = &b[b.len() - 10..b.len() - 2];
        assert_eq!(ts, &1_000_005i64.to_be_bytes());
        assert_eq!(pg_days(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()), -1);
    }
}
