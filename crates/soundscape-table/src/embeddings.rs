//! `embeddings.parquet` (docs/files.md#compute-embeddings): its one schema and a writer that
//! streams it in row groups. The embeddings stage writes it from its windows, `embeddings
//! import` from TFRecord shards (with extra columns after the common ones); export, the
//! projector and search read it.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Rows per row group (a reader streams the table a row group at a time).
pub const ROW_GROUP: usize = 8192;

/// The table's file name in a unit folder.
pub const FILE: &str = soundscape_core::products::EMBEDDINGS_FILE;

/// How the table is written: zstd, [`ROW_GROUP`] rows per row group.
pub fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_max_row_group_size(ROW_GROUP)
        .build()
}

fn ts_type(tz: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(tz.into()))
}

/// The key columns every embeddings and detections table begins with.
pub fn key_fields(tz: &str) -> Vec<Field> {
    vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("recording_index", DataType::Int64, false),
        Field::new("cumulus", DataType::Utf8, true),
        Field::new("node", DataType::Utf8, false),
        Field::new("recorder", DataType::Utf8, false),
        Field::new("deployment", DataType::Utf8, false),
        Field::new("channel", DataType::Int32, false),
        Field::new("window", DataType::Int32, false),
        Field::new("start_time", DataType::Float64, false),
        Field::new("end_time", DataType::Float64, false),
        Field::new("abs_start", ts_type(tz), false),
        Field::new("abs_end", ts_type(tz), false),
    ]
}

/// The model's columns after the keys.
pub fn tag_fields() -> Vec<Field> {
    vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("model_version", DataType::Utf8, false),
    ]
}

fn item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Float32, false))
}

/// The schema of `embeddings.parquet` with `dim`-value embeddings, in the time zone `tz`,
/// with `extra` columns (nullable float32 or string) at the end.
pub fn schema(tz: &str, dim: usize, extra: &[Field]) -> SchemaRef {
    let mut fields = key_fields(tz);
    fields.extend(tag_fields());
    fields.push(Field::new(
        "embedding",
        DataType::FixedSizeList(item(), dim as i32),
        false,
    ));
    fields.extend(extra.iter().cloned());
    Arc::new(Schema::new(fields))
}

/// One row's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Keys<'a> {
    pub id: &'a str,
    pub recording_index: i64,
    pub cumulus: Option<&'a str>,
    pub node: &'a str,
    pub recorder: &'a str,
    pub deployment: &'a str,
    pub channel: i32,
    pub window: i32,
    /// Seconds from the start of the file.
    pub start_time: f64,
    pub end_time: f64,
    /// The same as instants, nanoseconds since the epoch.
    pub abs_start_ns: i64,
    pub abs_end_ns: i64,
}

/// A value of an extra column.
#[derive(Debug, Clone, PartialEq)]
pub enum Extra<'a> {
    F32(Option<f32>),
    Str(Option<&'a str>),
}

enum ExtraBuilder {
    F32(Float32Builder),
    Str(StringBuilder),
}

/// Streams rows into `embeddings.parquet` (zstd), a row group every [`ROW_GROUP`] rows.
pub struct EmbeddingsWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    tz: String,
    dim: usize,
    rows: usize,
    id: StringBuilder,
    recording_index: Int64Builder,
    cumulus: StringBuilder,
    node: StringBuilder,
    recorder: StringBuilder,
    deployment: StringBuilder,
    channel: Int32Builder,
    window: Int32Builder,
    start_time: Float64Builder,
    end_time: Float64Builder,
    abs_start: TimestampNanosecondBuilder,
    abs_end: TimestampNanosecondBuilder,
    model: StringBuilder,
    model_version: StringBuilder,
    embedding: FixedSizeListBuilder<Float32Builder>,
    extra: Vec<ExtraBuilder>,
    written: usize,
}

impl<W: Write + Send> EmbeddingsWriter<W> {
    /// A writer of `dim`-value embeddings; `extra` columns must be nullable float32 or
    /// string.
    pub fn new(out: W, tz: &str, dim: usize, extra: &[Field]) -> Result<Self, String> {
        let schema = schema(tz, dim, extra);
        let extra = extra
            .iter()
            .map(|f| match f.data_type() {
                DataType::Float32 => Ok(ExtraBuilder::F32(Float32Builder::new())),
                DataType::Utf8 => Ok(ExtraBuilder::Str(StringBuilder::new())),
                t => Err(format!(
                    "extra column {}: {t} is neither float32 nor string",
                    f.name()
                )),
            })
            .collect::<Result<_, _>>()?;
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(properties()))
            .map_err(|e| e.to_string())?;
        Ok(EmbeddingsWriter {
            writer,
            schema,
            tz: tz.to_string(),
            dim,
            rows: 0,
            id: StringBuilder::new(),
            recording_index: Int64Builder::new(),
            cumulus: StringBuilder::new(),
            node: StringBuilder::new(),
            recorder: StringBuilder::new(),
            deployment: StringBuilder::new(),
            channel: Int32Builder::new(),
            window: Int32Builder::new(),
            start_time: Float64Builder::new(),
            end_time: Float64Builder::new(),
            abs_start: TimestampNanosecondBuilder::new(),
            abs_end: TimestampNanosecondBuilder::new(),
            model: StringBuilder::new(),
            model_version: StringBuilder::new(),
            embedding: FixedSizeListBuilder::new(Float32Builder::new(), dim as i32)
                .with_field(item()),
            extra,
            written: 0,
        })
    }

    /// Adds a row.
    pub fn push(
        &mut self,
        k: &Keys,
        model: (&str, &str),
        embedding: &[f32],
        extra: &[Extra],
    ) -> Result<(), String> {
        if embedding.len() != self.dim {
            return Err(format!(
                "{} window {} channel {}: an embedding of {} values in a table of {}",
                k.id,
                k.window,
                k.channel,
                embedding.len(),
                self.dim
            ));
        }
        if extra.len() != self.extra.len() {
            return Err(format!(
                "{} extra values for {} extra columns",
                extra.len(),
                self.extra.len()
            ));
        }
        for (b, v) in self.extra.iter_mut().zip(extra) {
            match (b, v) {
                (ExtraBuilder::F32(b), Extra::F32(v)) => b.append_option(*v),
                (ExtraBuilder::Str(b), Extra::Str(v)) => b.append_option(*v),
                _ => return Err("an extra value of the wrong type".into()),
            }
        }
        self.id.append_value(k.id);
        self.recording_index.append_value(k.recording_index);
        self.cumulus.append_option(k.cumulus);
        self.node.append_value(k.node);
        self.recorder.append_value(k.recorder);
        self.deployment.append_value(k.deployment);
        self.channel.append_value(k.channel);
        self.window.append_value(k.window);
        self.start_time.append_value(k.start_time);
        self.end_time.append_value(k.end_time);
        self.abs_start.append_value(k.abs_start_ns);
        self.abs_end.append_value(k.abs_end_ns);
        self.model.append_value(model.0);
        self.model_version.append_value(model.1);
        self.embedding.values().append_slice(embedding);
        self.embedding.append(true);
        self.rows += 1;
        if self.rows == ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.rows == 0 {
            return Ok(());
        }
        let tz = self.tz.as_str();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.recording_index.finish()),
            Arc::new(self.cumulus.finish()),
            Arc::new(self.node.finish()),
            Arc::new(self.recorder.finish()),
            Arc::new(self.deployment.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.window.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.abs_start.finish().with_timezone(tz)),
            Arc::new(self.abs_end.finish().with_timezone(tz)),
            Arc::new(self.model.finish()),
            Arc::new(self.model_version.finish()),
            Arc::new(self.embedding.finish()),
        ];
        for b in &mut self.extra {
            cols.push(match b {
                ExtraBuilder::F32(b) => Arc::new(b.finish()),
                ExtraBuilder::Str(b) => Arc::new(b.finish()),
            });
        }
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| e.to_string())?;
        self.writer.write(&batch).map_err(|e| e.to_string())?;
        self.written += self.rows;
        self.rows = 0;
        Ok(())
    }

    /// Writes what is left and the footer; returns the number of rows and the output.
    pub fn finish(mut self) -> Result<(usize, W), String> {
        self.flush()?;
        let out = self.writer.into_inner().map_err(|e| e.to_string())?;
        Ok((self.written, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Float32Type;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn keys_of(id: &str, i: usize) -> Keys<'_> {
        Keys {
            id,
            recording_index: (i / 12) as i64,
            cumulus: None,
            node: "site",
            recorder: "Wet-A",
            deployment: "2020-11-26",
            channel: (i % 2) as i32,
            window: (i / 2) as i32,
            start_time: 5.0 * (i / 2) as f64,
            end_time: 5.0 * (i / 2) as f64 + 5.0,
            abs_start_ns: 1_000_000_000 * i as i64,
            abs_end_ns: 1_000_000_000 * i as i64 + 5_000_000_000,
        }
    }

    #[test]
    fn rows_stream_into_row_groups_and_read_back() {
        let extra = [
            Field::new("nuisance_speech", DataType::Float32, true),
            Field::new("source_name", DataType::Utf8, true),
        ];
        let mut w = EmbeddingsWriter::new(Vec::new(), "+08:00", 3, &extra).unwrap();
        let n = ROW_GROUP + 5;
        for i in 0..n {
            let id = format!("rec{}", i / 12);
            let k = keys_of(&id, i);
            let speech = if i % 3 == 0 { Some(i as f32) } else { None };
            w.push(
                &k,
                ("perch", "8"),
                &[i as f32, 0.5, -1.0],
                &[Extra::F32(speech), Extra::Str(Some("x.flac"))],
            )
            .unwrap();
        }
        let short = w.push(
            &keys_of("bad", 0),
            ("m", "v"),
            &[1.0],
            &[Extra::F32(None), Extra::Str(None)],
        );
        assert!(short.unwrap_err().contains("1 values in a table of 3"));
        let (written, bytes) = w.finish().unwrap();
        assert_eq!(written, n);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        let batches: Vec<_> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(all.num_rows(), n);
        let emb = all
            .column_by_name("embedding")
            .unwrap()
            .as_fixed_size_list();
        assert_eq!(emb.value_length(), 3);
        let last = emb.value(n - 1);
        assert_eq!(
            last.as_primitive::<Float32Type>().values(),
            &[(n - 1) as f32, 0.5, -1.0]
        );
        let speech = all
            .column_by_name("nuisance_speech")
            .unwrap()
            .as_primitive::<Float32Type>();
        assert_eq!((speech.value(3), speech.is_null(4)), (3.0, true));
        assert!(matches!(
            all.schema().field_with_name("abs_start").unwrap().data_type(),
            DataType::Timestamp(TimeUnit::Nanosecond, Some(tz)) if tz.as_ref() == "+08:00"
        ));
    }
}
