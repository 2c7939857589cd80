//! Reading `embeddings.parquet` tables a row group at a time, with only the columns asked
//! for: what export, the projector and search share. The footer is read once per table;
//! each row group can then be read on its own (by any thread).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, FixedSizeListArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

/// An embeddings table: its footer, embedding length and row groups.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: PathBuf,
    meta: ArrowReaderMetadata,
    /// Values per embedding.
    pub dim: usize,
    /// Rows of each row group.
    pub groups: Vec<usize>,
}

impl Table {
    /// Opens the table at `path` and checks it has an `embedding` column of float32 lists of
    /// a fixed length.
    pub fn open(path: &Path) -> Result<Table, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let f = File::open(path).map_err(|e| at(&e))?;
        let meta = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()).map_err(|e| at(&e))?;
        let field = meta
            .schema()
            .field_with_name("embedding")
            .map_err(|_| at(&"no embedding column"))?
            .clone();
        let dim = match field.data_type() {
            DataType::FixedSizeList(item, n) if item.data_type() == &DataType::Float32 => {
                *n as usize
            }
            t => {
                return Err(at(&format!(
                    "embedding is {t}, not fixed-size float32 lists"
                )))
            }
        };
        let groups = meta
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as usize)
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            meta,
            dim,
            groups,
        })
    }

    pub fn rows(&self) -> usize {
        self.groups.iter().sum()
    }

    /// Whether the table has a column of this name.
    pub fn has(&self, column: &str) -> bool {
        self.meta.schema().field_with_name(column).is_ok()
    }

    /// The time zone of `abs_start` (UTC when it has none).
    pub fn time_zone(&self) -> String {
        match self
            .meta
            .schema()
            .field_with_name("abs_start")
            .map(|f| f.data_type())
        {
            Ok(DataType::Timestamp(_, Some(tz))) => tz.to_string(),
            _ => "UTC".into(),
        }
    }

    /// The first row of each row group, counted from the start of the table.
    pub fn group_starts(&self) -> Vec<usize> {
        let mut at = 0;
        self.groups
            .iter()
            .map(|n| {
                let s = at;
                at += n;
                s
            })
            .collect()
    }

    /// The row group holding row `row` of the table, and the row's place in it.
    pub fn group_of(&self, row: usize) -> (usize, usize) {
        let starts = self.group_starts();
        let g = starts.partition_point(|&s| s <= row) - 1;
        (g, row - starts[g])
    }

    fn builder(&self, columns: &[&str]) -> Result<ParquetRecordBatchReaderBuilder<File>, String> {
        let f = File::open(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        let b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, self.meta.clone());
        let schema = self.meta.schema();
        let mut roots = Vec::new();
        for c in columns {
            if let Ok(i) = schema.index_of(c) {
                roots.push(i);
            }
        }
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), roots);
        Ok(b.with_projection(mask))
    }

    /// The columns of `columns` that exist, of row group `group`, as one batch.
    pub fn group(&self, group: usize, columns: &[&str]) -> Result<RecordBatch, String> {
        let rows = self.groups[group];
        let reader = self
            .builder(columns)?
            .with_row_groups(vec![group])
            .with_batch_size(rows.max(1))
            .build()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let batches: Vec<RecordBatch> = reader
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: row group {group}: {e}", self.path.display()))?;
        match batches.len() {
            1 => Ok(batches.into_iter().next().expect("one")),
            _ => {
                let schema = batches.first().map(|b| b.schema()).ok_or_else(|| {
                    format!("{}: row group {group} is empty", self.path.display())
                })?;
                arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())
            }
        }
    }

    /// Streams the table in row groups, with the columns of `columns` that exist.
    pub fn batches<'a>(
        &'a self,
        columns: &'a [&'a str],
    ) -> Result<impl Iterator<Item = Result<RecordBatch, String>> + 'a, String> {
        Ok((0..self.groups.len()).map(move |g| self.group(g, columns)))
    }
}

/// The values of a batch's `embedding` column, `dim` per row, one slice.
pub fn embedding_values(b: &RecordBatch) -> Result<(&[f32], usize), String> {
    let list: &FixedSizeListArray = b
        .column_by_name("embedding")
        .ok_or("no embedding column")?
        .as_fixed_size_list();
    if list.null_count() > 0 {
        return Err("null embeddings".into());
    }
    let dim = list.value_length() as usize;
    let values = list.values().as_primitive::<Float32Type>().values();
    let start = list.offset() * dim;
    Ok((&values[start..start + list.len() * dim], dim))
}

/// A string column's value (empty when the column is absent or the value null).
pub fn str_at(b: &RecordBatch, column: &str, row: usize) -> String {
    match b.column_by_name(column) {
        Some(c) if !c.is_null(row) => match c.data_type() {
            DataType::Utf8 => c.as_string::<i32>().value(row).to_string(),
            DataType::LargeUtf8 => c.as_string::<i64>().value(row).to_string(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// A float32 column's value, where the column exists and the value is not null.
pub fn f32_at(b: &RecordBatch, column: &str, row: usize) -> Option<f32> {
    let c = b.column_by_name(column)?;
    (!c.is_null(row) && c.data_type() == &DataType::Float32)
        .then(|| c.as_primitive::<Float32Type>().value(row))
}
