//! NONE: no columns; any payload reads as an empty row, rows write as null.

use creek_sql::value::Value;

use super::RowFormat;

pub(crate) struct NoneFormat;

impl RowFormat for NoneFormat {
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Vec<Value>>, String> {
        Ok(bytes.map(|_| Vec::new()))
    }

    fn serialize(&self, _row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}
