//! creek-pg: PostgreSQL for creek's tools and tests — the seed's fake-customer
//! generator (`creek fake`, later `creek demo`) and a throwaway PostgreSQL cluster.
//!
//! Principal types and data flow:
//!
//! ```text
//! CustomerGenerator (Locale) ──batch(n)──► Vec<Customer>
//!   ──insert_batch (or encode_copy + CopyWriter::write)──► COPY "t" (...) FROM STDIN (FORMAT binary)
//!   ──► PostgreSQL table `customers` (created by ensure_table: the seed's exact DDL)
//! ```
//!
//! - [`CustomerGenerator`] builds [`Customer`] rows (nome, sexo, endereco, telefone,
//!   email, foto, nascimento, profissao, dt_update) from static word lists in the
//!   `en_US` or `pt_BR` [`Locale`]; `dt_update` is the local time of generation.
//! - [`ensure_table`] creates the seed's table when missing; [`insert_batch`] appends
//!   one batch with one binary COPY (one transaction). [`CopyWriter`] keeps that COPY
//!   prepared for a stream of batches encoded by [`encode_copy`]. Table names go
//!   through [`quote_table`].
//! - [`connect`] opens a client with errors that name host and port; [`mask_password`]
//!   makes connection strings printable.
//! - [`TempPostgres`] runs the machine's own `initdb`/`postgres` in a temp dir on a free
//!   loopback port (`wal_level=logical`, trust auth, as the `postgres` user when root)
//!   and removes it on drop; `stop_server`/`start_server` simulate an outage.

mod conninfo;
mod generator;
mod names;
mod table;
mod temp;

pub use conninfo::{connect, describe_target, jdbc_target, mask_password, JdbcTarget};
pub use generator::{Customer, CustomerGenerator, Locale};
pub use table::{
    create_table_sql, encode_copy, ensure_table, insert_batch, quote_table, CopyWriter,
    CUSTOMER_COLUMNS,
};
pub use temp::{find_bin_dir, TempPostgres};
