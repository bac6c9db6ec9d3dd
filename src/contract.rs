//! The input data contract: six tables, their canonical Arrow schemas, and the check of a
//! Parquet file's physical schema against them.
//!
//! Readers accept harmless physical variants (any timestamp unit or time zone, narrower
//! integers, any string encoding) and the engine casts them to the canonical type; any other
//! difference is rejected with an error naming the file, the column, the expected and the
//! found type. See docs/data-contract.md.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use object_store::ObjectStoreExt;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};

/// Logical column kinds of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Timestamp,
    Int64,
    Int32,
    Float64,
    Utf8,
    Date,
}

impl Kind {
    pub fn canonical(self) -> DataType {
        match self {
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Int64 => DataType::Int64,
            Kind::Int32 => DataType::Int32,
            Kind::Float64 => DataType::Float64,
            Kind::Utf8 => DataType::Utf8,
            Kind::Date => DataType::Date32,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Timestamp => "TIMESTAMP (any unit, any or no time zone)",
            Kind::Int64 => "INT64 (or a narrower integer)",
            Kind::Int32 => "INT32 (or a narrower integer)",
            Kind::Float64 => "FLOAT64 (or FLOAT32 / an integer)",
            Kind::Utf8 => "UTF8 (Utf8, LargeUtf8, Utf8View or a string dictionary)",
            Kind::Date => "DATE",
        }
    }

    /// Whether a physical type is a harmless variant of this kind.
    pub fn accepts(self, found: &DataType) -> bool {
        use DataType::*;
        match self {
            Kind::Timestamp => matches!(found, Timestamp(_, _)),
            Kind::Int64 => matches!(
                found,
                Int64 | Int32 | Int16 | Int8 | UInt32 | UInt16 | UInt8
            ),
            Kind::Int32 => matches!(found, Int32 | Int16 | Int8 | UInt16 | UInt8),
            Kind::Float64 => matches!(
                found,
                Float64
                    | Float32
                    | Float16
                    | Int64
                    | Int32
                    | Int16
                    | Int8
                    | UInt32
                    | UInt16
                    | UInt8
            ),
            Kind::Utf8 => match found {
                Utf8 | LargeUtf8 | Utf8View => true,
                Dictionary(_, v) => matches!(v.as_ref(), Utf8 | LargeUtf8 | Utf8View),
                _ => false,
            },
            Kind::Date => matches!(found, Date32 | Date64),
        }
    }
}

pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

const fn col(name: &'static str, kind: Kind, nullable: bool) -> Column {
    Column {
        name,
        kind,
        nullable,
    }
}

/// One input table of the contract.
pub struct TableContract {
    pub name: &'static str,
    pub columns: &'static [Column],
}

impl TableContract {
    /// The canonical schema (without the `dt` partition column).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.kind.canonical(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    /// Checks a file's physical schema; `file` names the file in the error.
    pub fn check(&self, file: &str, found: &Schema) -> Result<(), ContractError> {
        for c in self.columns {
            match found.field_with_name(c.name) {
                Ok(f) if c.kind.accepts(f.data_type()) => {}
                Ok(f) => {
                    return Err(ContractError {
                        file: file.to_string(),
                        table: self.name.to_string(),
                        column: c.name.to_string(),
                        expected: c.kind.describe().to_string(),
                        found: f.data_type().to_string(),
                    });
                }
                Err(_) => {
                    return Err(ContractError {
                        file: file.to_string(),
                        table: self.name.to_string(),
                        column: c.name.to_string(),
                        expected: c.kind.describe().to_string(),
                        found: "no such column".to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A file that breaks the input contract.
#[derive(Debug, thiserror::Error)]
#[error(
    "contract violation in {file}: table `{table}` column `{column}`: expected {expected}, found {found}"
)]
pub struct ContractError {
    pub file: String,
    pub table: String,
    pub column: String,
    pub expected: String,
    pub found: String,
}

use Kind::*;

pub const EXPOSURES: TableContract = TableContract {
    name: "exposures",
    columns: &[
        col("ts", Timestamp, false),
        col("user_id", Int64, false),
        col("anchor_id", Int64, false),
        col("live_id", Int64, false),
        col("position", Int32, true),
        col("page", Utf8, true),
    ],
};

pub const WATCHES: TableContract = TableContract {
    name: "watches",
    columns: &[
        col("ts", Timestamp, false),
        col("user_id", Int64, false),
        col("anchor_id", Int64, false),
        col("live_id", Int64, false),
        col("duration_s", Float64, false),
    ],
};

pub const INTERACTIONS: TableContract = TableContract {
    name: "interactions",
    columns: &[
        col("ts", Timestamp, false),
        col("user_id", Int64, false),
        col("anchor_id", Int64, false),
        col("live_id", Int64, true),
        col("kind", Utf8, false),
        col("value", Float64, false),
    ],
};

pub const LIVE_SESSIONS: TableContract = TableContract {
    name: "live_sessions",
    columns: &[
        col("live_id", Int64, false),
        col("anchor_id", Int64, false),
        col("start_ts", Timestamp, false),
        col("end_ts", Timestamp, false),
        col("category", Utf8, false),
    ],
};

pub const USERS: TableContract = TableContract {
    name: "users",
    columns: &[
        col("user_id", Int64, false),
        col("gender", Utf8, true),
        col("age", Int32, true),
        col("city", Utf8, true),
        col("register_dt", Date, true),
    ],
};

pub const ANCHORS: TableContract = TableContract {
    name: "anchors",
    columns: &[
        col("anchor_id", Int64, false),
        col("gender", Utf8, true),
        col("age", Int32, true),
        col("city", Utf8, true),
        col("category", Utf8, true),
    ],
};

/// Every input table, in the order the generator writes them.
pub const INPUT_TABLES: [&TableContract; 6] = [
    &EXPOSURES,
    &WATCHES,
    &INTERACTIONS,
    &LIVE_SESSIONS,
    &USERS,
    &ANCHORS,
];

/// Generic user–item interactions (`liverec import-interactions`), for running item-CF on
/// data other than the platform's: e.g. a public ratings data set. Not one of the platform's
/// six tables: the daily `quality` job does not expect it, the jobs that read it check it.
pub const ITEM_EVENTS: TableContract = TableContract {
    name: "item_events",
    columns: &[
        col("ts", Timestamp, false),
        col("user_id", Int64, false),
        col("item_id", Int64, false),
        col("weight", Float64, false),
    ],
};

/// Input tables outside the platform's six.
pub const GENERIC_TABLES: [&TableContract; 1] = [&ITEM_EVENTS];

/// The interaction kinds of the contract.
pub const INTERACTION_KINDS: [&str; 5] = ["gift", "comment", "like", "follow", "share"];

pub fn input_table(name: &str) -> Option<&'static TableContract> {
    INPUT_TABLES
        .iter()
        .chain(GENERIC_TABLES.iter())
        .copied()
        .find(|t| t.name == name)
}

/// What a Parquet footer says about a file.
pub struct Footer {
    pub schema: SchemaRef,
    pub rows: u64,
}

/// Reads a Parquet footer; a corrupt, truncated, empty or non-Parquet file is an error naming
/// the file.
pub async fn read_footer(
    store: Arc<dyn object_store::ObjectStore>,
    meta: &object_store::ObjectMeta,
    name: &str,
) -> Result<Footer> {
    let unreadable = || format!("{name} is not a readable Parquet file");
    let size = meta.size;
    if size < 12 {
        anyhow::bail!("{}: {size} bytes is too short", unreadable());
    }
    let tail = store
        .get_range(&meta.location, size - 8..size)
        .await
        .with_context(unreadable)?;
    let tail: &[u8; 8] = tail.as_ref().try_into().with_context(unreadable)?;
    let footer = FooterTail::try_new(tail).with_context(unreadable)?;
    let len = footer.metadata_length() as u64;
    if len + 12 > size {
        anyhow::bail!(
            "{}: footer of {len} bytes does not fit in {size} bytes (truncated?)",
            unreadable()
        );
    }
    let bytes = store
        .get_range(&meta.location, size - 8 - len..size - 8)
        .await
        .with_context(unreadable)?;
    let metadata = ParquetMetaDataReader::decode_metadata(&bytes).with_context(unreadable)?;
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .with_context(unreadable)?;
    Ok(Footer {
        schema: Arc::new(schema),
        rows: file.num_rows().max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_variants_and_names_the_violation() {
        let ok = Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("user_id", DataType::Int32, true),
            Field::new("anchor_id", DataType::Int64, true),
            Field::new("live_id", DataType::Int64, true),
            Field::new("duration_s", DataType::Float32, true),
            Field::new("extra", DataType::Utf8View, true),
        ]);
        WATCHES.check("f.parquet", &ok).unwrap();

        let bad = Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
            Field::new("user_id", DataType::Utf8, true),
            Field::new("anchor_id", DataType::Int64, true),
            Field::new("live_id", DataType::Int64, true),
            Field::new("duration_s", DataType::Float64, true),
        ]);
        let err = WATCHES
            .check("w/dt=2026-01-01/a.parquet", &bad)
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("w/dt=2026-01-01/a.parquet"), "{msg}");
        assert!(
            msg.contains("`user_id`") && msg.contains("found Utf8"),
            "{msg}"
        );

        let missing = Schema::new(vec![Field::new("ts", DataType::Int64, true)]);
        let msg = WATCHES
            .check("x.parquet", &missing)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`ts`") && msg.contains("found Int64"), "{msg}");
    }
}
