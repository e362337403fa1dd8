//! KAFKA: a single primitive column in Kafka's own serializers' encoding
//! (INT 4 bytes and BIGINT 8 bytes big-endian, DOUBLE IEEE 754, STRING
//! UTF-8, BYTES raw). With no columns the payload is ignored.

use creek_sql::types::SqlType;
use creek_sql::value::Value;

use super::{columns_text, Column, RowFormat};

pub(crate) struct KafkaFormat {
    /// `None` when the format has no column.
    ty: Option<SqlType>,
}

impl KafkaFormat {
    pub(crate) fn new(columns: &[Column], is_key: bool) -> Result<KafkaFormat, String> {
        if columns.len() > 1 {
            return Err(format!(
                "The 'KAFKA' format only supports a single field. Got: {}",
                columns_text(columns, is_key)
            ));
        }
        let ty = columns.first().map(|c| c.ty.clone());
        if let Some(ty) = &ty {
            if !matches!(
                ty,
                SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::String | SqlType::Bytes
            ) {
                return Err(format!(
                    "The 'KAFKA' format does not support type '{}'",
                    super::base_type_name(ty)
                ));
            }
        }
        Ok(KafkaFormat { ty })
    }
}

fn fixed<const N: usize>(bytes: &[u8], name: &str) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("Size of data received by {name} is not {N}"))
}

impl RowFormat for KafkaFormat {
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Vec<Value>>, String> {
        let Some(ty) = &self.ty else {
            return Ok(bytes.map(|_| Vec::new()));
        };
        let Some(b) = bytes else {
            return Ok(None);
        };
        let v = match ty {
            SqlType::Int => Value::Int(i32::from_be_bytes(fixed(b, "IntegerDeserializer")?)),
            SqlType::Bigint => Value::Bigint(i64::from_be_bytes(fixed(b, "LongDeserializer")?)),
            SqlType::Double => Value::Double(f64::from_be_bytes(fixed(b, "DoubleDeserializer")?)),
            SqlType::String => Value::string(String::from_utf8_lossy(b).as_ref()),
            _ => Value::bytes(b),
        };
        Ok(Some(vec![v]))
    }

    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String> {
        let Some(ty) = &self.ty else {
            return Ok(None);
        };
        let Some(v) = row.and_then(|r| r.first()) else {
            return Ok(None);
        };
        Ok(match (ty, v) {
            (_, Value::Null) => None,
            (SqlType::Int, v) => Some(
                (v.as_i64().ok_or_else(|| mismatch(v, ty))? as i32)
                    .to_be_bytes()
                    .to_vec(),
            ),
            (SqlType::Bigint, v) => Some(
                v.as_i64()
                    .ok_or_else(|| mismatch(v, ty))?
                    .to_be_bytes()
                    .to_vec(),
            ),
            (SqlType::Double, v) => Some(
                v.as_f64()
                    .ok_or_else(|| mismatch(v, ty))?
                    .to_be_bytes()
                    .to_vec(),
            ),
            (SqlType::String, Value::String(s)) => Some(s.as_bytes().to_vec()),
            (SqlType::Bytes, Value::Bytes(b)) => Some(b.to_vec()),
            (_, v) => return Err(mismatch(v, ty)),
        })
    }
}

fn mismatch(v: &Value, ty: &SqlType) -> String {
    format!("Cannot serialize {v:?} as KAFKA {ty}")
}
