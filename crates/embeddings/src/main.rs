//! `embeddings`: embedding tables that travel (docs/vectors.md). A thin command line over
//! `soundscape-vectors`: `import` (A2O/Perch TFRecord shards into `embeddings.parquet`),
//! `export` (the other way), `projector` (the Embedding Projector's files and TensorBoard
//! log dir) and `search` (the nearest windows to an example).
//!
//! Every command writes `<command>_report.json` into its output folder. Exit codes: 0 all
//! done, 3 some items (records, rows) failed and are named in the report, 1 the run failed,
//! 2 bad command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};
use serde::Serialize;
use soundscape_cli::CommonArgs;
use soundscape_vectors::search::{Source, UseIndex};
use soundscape_vectors::table::Table;

#[derive(Debug, Parser)]
#[command(
    name = "embeddings",
    version,
    about = "Embedding tables that travel: A2O/Perch TFRecord shards in and out of embeddings.parquet, the Embedding Projector's files, and search by example.",
    after_help = "Each command writes OUT/<command>_report.json.\n\
                  Exit codes: 0 all done, 3 some records or rows failed (named in the report), 1 the run failed, 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// TFRecord shards of tf.train.Example records (A2O/Perch: filename, timestamp_s,
    /// embedding [windows, channels, dim], nuisances) into OUT/embeddings.parquet.
    Import(ImportArgs),
    /// embeddings.parquet tables into TFRecord shards that Perch's tools read
    /// (OUT/embeddings-NNNNN-of-MMMMM and OUT/config.json).
    Export(ExportArgs),
    /// The Embedding Projector's files (tensors.tsv, metadata.tsv, sprite.png,
    /// projector_config.json) and TensorBoard's log dir (projector_config.pbtxt) in OUT.
    Projector(ProjectorArgs),
    /// The K windows most like an example (a row of the tables or an audio clip), by cosine
    /// similarity, exact, into OUT/hits.parquet and OUT/hits.csv.
    Search(SearchArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// Shards (plain, gzip or zlib), or folders of shards.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Drop the windows the A2O notebook drops (speech, or empty on the raw or the separated
    /// channels), by their nuisance scores.
    #[arg(long)]
    filter: bool,
    /// Window length, seconds (default: config.json beside the shards, else 5).
    #[arg(long)]
    window: Option<f64>,
    /// Step between windows, seconds (default: config.json beside the shards, else the
    /// window).
    #[arg(long)]
    hop: Option<f64>,
    /// Written into the model column.
    #[arg(long, default_value = "perch")]
    model: String,
    /// Written into the model_version column.
    #[arg(long, default_value = "")]
    model_version: String,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// embeddings.parquet tables, or unit folders holding one.
    #[arg(required = true)]
    tables: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    /// Records per shard.
    #[arg(long, default_value_t = 10_000)]
    records_per_shard: usize,
    /// Write gzip shards (read with compression_type="GZIP").
    #[arg(long)]
    gzip: bool,
    /// Step between windows, seconds (default: what the tables show).
    #[arg(long)]
    hop: Option<f64>,
}

#[derive(Debug, clap::Args)]
struct ProjectorArgs {
    /// embeddings.parquet tables, or unit folders holding one.
    #[arg(required = true)]
    tables: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    /// Most points to show; beyond it a sample stratified by node and hour.
    #[arg(long, default_value_t = 10_000)]
    max_points: usize,
    /// Reduce the embeddings to this many dimensions by PCA first.
    #[arg(long)]
    pca: Option<usize>,
    /// Columns of metadata.tsv.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "id,node,recorder,deployment,channel,window,start_time,abs_start"
    )]
    columns: Vec<String>,
    /// No sprite of spectrogram thumbnails.
    #[arg(long)]
    no_sprite: bool,
    #[command(flatten)]
    audio: AudioRoot,
}

#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// embeddings.parquet tables, or unit folders holding one; rows are numbered across
    /// them in order.
    #[arg(long, required = true, num_args = 1..)]
    embeddings: Vec<PathBuf>,
    /// The query is this row of the tables.
    #[arg(
        long,
        conflicts_with = "query_audio",
        required_unless_present = "query_audio"
    )]
    query_row: Option<u64>,
    /// The query is this audio clip's embedding (the mean direction of its windows).
    #[arg(long, requires = "model")]
    query_audio: Option<PathBuf>,
    /// Model of the clip's embedding (the tables' model).
    #[arg(long)]
    model: Option<String>,
    /// Folder of the models.
    #[arg(long, env = "SOUNDSCAPE_MODELS", default_value = "models")]
    models_dir: PathBuf,
    /// Hits to keep.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// No clips and spectrogram thumbnails of the hits (OUT/clips/, OUT/thumbnails/).
    #[arg(long)]
    no_clips: bool,
    #[command(flatten)]
    audio: AudioRoot,
    /// Read the tables themselves, not their search indexes (TABLE.vectors, unit vectors in
    /// a flat file, built beside a table on its first search and rebuilt when it changes).
    #[arg(long)]
    no_index: bool,
    #[arg(long)]
    out: PathBuf,
}

/// Where the audio behind the tables is, for thumbnails and clips.
#[derive(Debug, clap::Args)]
struct AudioRoot {
    /// Folder that recording names (source_name, else id) are relative to, for tables
    /// without a report of their recordings (embeddings_report.json) beside them.
    #[arg(long)]
    audio_root: Option<PathBuf>,
}

/// What every command's report holds around its own part.
#[derive(Debug, Serialize)]
struct Report<D: Serialize> {
    command: String,
    version: String,
    started_at: String,
    finished_at: String,
    /// ok, partial (some items failed), failed, or nothing to do.
    status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    outputs: Vec<String>,
    #[serde(flatten)]
    details: D,
}

impl<D: Serialize> Report<D> {
    fn new(command: &str, details: D) -> Self {
        Report {
            command: command.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: chrono::Utc::now().to_rfc3339(),
            finished_at: String::new(),
            status: String::new(),
            errors: vec![],
            warnings: vec![],
            outputs: vec![],
            details,
        }
    }

    /// Stamps the report, writes it to `out/<command>_report.json` and gives the exit code.
    fn finish(mut self, out: &Path, code: u8, nothing: bool) -> anyhow::Result<u8> {
        self.finished_at = chrono::Utc::now().to_rfc3339();
        self.status = match (code, nothing) {
            (_, true) => "nothing to do",
            (0, _) => "ok",
            (3, _) => "partial",
            _ => "failed",
        }
        .into();
        let path = out.join(format!("{}_report.json", self.command));
        soundscape_core::fsutil::write_json_atomic(&path, &self)
            .with_context(|| format!("cannot write {}", path.display()))?;
        tracing::info!(status = %self.status, report = %path.display(), "finished");
        Ok(code)
    }
}

fn main() -> ExitCode {
    let cli: Cli = soundscape_cli::parse();
    let common = cli.common.clone();
    common.main("embeddings", || match cli.command {
        Command::Import(a) => import(a),
        Command::Export(a) => export(a),
        Command::Projector(a) => projector(a),
        Command::Search(a) => search(a),
    })
}

/// Files of the arguments: a file as given, a folder's shards (every file but dot files and
/// the JSON, CSV, text and parquet files beside them), sorted.
fn shard_files(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(a)
                .with_context(|| format!("cannot read {}", a.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase());
                    p.is_file()
                        && name.is_some_and(|n| {
                            !n.starts_with('.')
                                && ![".json", ".csv", ".txt", ".md", ".parquet"]
                                    .iter()
                                    .any(|e| n.ends_with(e))
                        })
                })
                .collect();
            found.sort();
            out.extend(found);
        } else if a.is_file() {
            out.push(a.clone());
        } else {
            anyhow::bail!("{}: no such file or folder", a.display());
        }
    }
    Ok(out)
}

/// Tables of the arguments: a parquet file as given, a folder's embeddings.parquet.
fn tables(args: &[PathBuf]) -> anyhow::Result<Vec<Table>> {
    args.iter()
        .map(|a| {
            let p = if a.is_dir() {
                a.join(soundscape_table::embeddings::FILE)
            } else {
                a.clone()
            };
            Table::open(&p).map_err(|e| anyhow!(e))
        })
        .collect()
}

#[derive(Debug, Default, Serialize)]
struct ImportSummary {
    shards: usize,
    shards_failed: usize,
    records: usize,
    records_failed: usize,
    rows: usize,
    filtered: usize,
    unparsed_names: usize,
}

#[derive(Debug, Serialize)]
struct ImportDetails {
    summary: ImportSummary,
    shards: Vec<soundscape_vectors::import::ShardReport>,
}

fn import(a: ImportArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut report = Report::new(
        "import",
        ImportDetails {
            summary: ImportSummary::default(),
            shards: vec![],
        },
    );
    let shards = shard_files(&a.shards)?;
    if shards.is_empty() {
        println!("import: no shards in {:?}: nothing to do", a.shards);
        return report.finish(&a.out, 0, true);
    }
    tracing::info!(shards = shards.len(), out = %a.out.display(), "importing");
    let opts = soundscape_vectors::import::Options {
        window_s: a.window,
        hop_s: a.hop.or(a.window),
        model: a.model,
        model_version: a.model_version,
        filter: a.filter,
    };
    let reports =
        soundscape_vectors::import::import(&shards, &a.out, &opts).map_err(|e| anyhow!(e))?;
    let s = &mut report.details.summary;
    s.shards = reports.len();
    for r in &reports {
        s.records += r.records;
        s.rows += r.rows;
        s.filtered += r.filtered;
        s.unparsed_names += r.unparsed_names.len();
        s.records_failed += r.errors.len();
        if r.records == 0 && !r.errors.is_empty() {
            s.shards_failed += 1;
        }
        if !r.unparsed_names.is_empty() {
            report.warnings.push(format!(
                "{}: {} recording names are not A2O names (kept as they are; their rows have no node, subsite or absolute time), e.g. {:?}",
                r.shard.display(),
                r.unparsed_names.len(),
                r.unparsed_names[0]
            ));
        }
    }
    let (failed, rows, records) = (s.records_failed, s.rows, s.records);
    report.details.shards = reports;
    report.outputs.push(
        a.out
            .join(soundscape_table::embeddings::FILE)
            .display()
            .to_string(),
    );
    let code = match (failed, rows) {
        (0, _) => 0,
        (_, 0) if records == 0 => 1,
        _ => 3,
    };
    if records == 0 && failed == 0 {
        println!("import: the shards hold no records: nothing to do");
    }
    report.finish(&a.out, code, records == 0 && failed == 0)
}

fn export(a: ExportArgs) -> anyhow::Result<u8> {
    let paths: Vec<PathBuf> = tables(&a.tables)?.into_iter().map(|t| t.path).collect();
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let opts = soundscape_vectors::export::Options {
        records_per_shard: a.records_per_shard,
        gzip: a.gzip,
        hop_s: a.hop,
    };
    tracing::info!(tables = paths.len(), out = %a.out.display(), "exporting");
    let r = soundscape_vectors::export::export(&paths, &a.out, &opts).map_err(|e| anyhow!(e))?;
    let nothing = r.rows == 0 && r.skipped.is_empty();
    if nothing {
        println!("export: the tables hold no rows: nothing to do");
    }
    let code = if r.skipped.is_empty() { 0 } else { 3 };
    let mut report = Report::new("export", r);
    report.outputs = report
        .details
        .shards
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    report
        .outputs
        .push(a.out.join("config.json").display().to_string());
    report.finish(&a.out, code, nothing)
}

fn projector(a: ProjectorArgs) -> anyhow::Result<u8> {
    let tables = tables(&a.tables)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let opts = soundscape_vectors::projector::Options {
        max_points: a.max_points,
        pca: a.pca,
        columns: a.columns,
        sprite: !a.no_sprite,
        audio_root: a.audio.audio_root,
    };
    tracing::info!(tables = tables.len(), out = %a.out.display(), "writing the projector's files");
    let r =
        soundscape_vectors::projector::projector(&tables, &a.out, &opts).map_err(|e| anyhow!(e))?;
    let nothing = r.points == 0;
    if nothing {
        println!("projector: the tables hold no rows: nothing to do");
    }
    let mut report = Report::new("projector", r);
    for (why, n) in &report.details.blank_tiles {
        report.warnings.push(format!(
            "{n} windows have a blank tile in the sprite: {why}"
        ));
    }
    report.outputs = [
        "tensors.tsv",
        "metadata.tsv",
        "projector_config.json",
        "projector_config.pbtxt",
    ]
    .iter()
    .chain(if opts.sprite && !nothing {
        &["sprite.png"][..]
    } else {
        &[]
    })
    .map(|f| a.out.join(f).display().to_string())
    .collect();
    println!(
        "projector: {} of {} windows in {}; `tensorboard --logdir {}` shows them",
        report.details.points,
        report.details.rows,
        a.out.display(),
        a.out.display()
    );
    report.finish(&a.out, 0, nothing)
}

#[derive(Debug, Serialize)]
struct SearchDetails {
    query: serde_json::Value,
    tables: Vec<Source>,
    rows: u64,
    hits: usize,
    seconds: f64,
}

/// The query of a clip: the mean direction of its windows' embeddings.
fn clip_query(clip: &Path, model: &str, models_dir: &Path) -> anyhow::Result<Vec<f32>> {
    use soundscape_embed::analyze::{analyze, ChannelMode, Settings};
    let dir =
        soundscape_embed::manifest::ModelDir::find(models_dir, model).map_err(|e| anyhow!(e))?;
    let model = soundscape_embed::model::Model::load(dir, 1).map_err(|e| anyhow!(e))?;
    let settings = Settings {
        channels: ChannelMode::Mix,
        hop_s: model.manifest.hop(),
        sensitivity: 1.0,
        min_confidence: 1.0,
        top_k: 0,
        species: vec![],
        embeddings: true,
        max_truncation: soundscape_embed::analyze::DEFAULT_MAX_TRUNCATION,
    };
    let r = analyze(clip, &model, &settings, None, &|_| {})
        .map_err(|e| anyhow!("{}: {e}", clip.display()))?;
    let mut sum: Vec<f32> = Vec::new();
    for w in &r.windows {
        let u = soundscape_vectors::search::unit(&w.embedding);
        if sum.is_empty() {
            sum = u;
        } else {
            sum.iter_mut().zip(&u).for_each(|(s, v)| *s += v);
        }
    }
    if sum.is_empty() {
        anyhow::bail!(
            "{}: the model gave no embedding for the clip",
            clip.display()
        );
    }
    Ok(sum)
}

fn search(a: SearchArgs) -> anyhow::Result<u8> {
    let tables = tables(&a.embeddings)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let rows: u64 = tables.iter().map(|t| t.rows() as u64).sum();
    let (query, described) = match (&a.query_row, &a.query_audio) {
        (Some(row), _) => (
            soundscape_vectors::search::row_embedding(&tables, *row).map_err(|e| anyhow!(e))?,
            serde_json::json!({ "row": row }),
        ),
        (None, Some(clip)) => {
            let model = a.model.as_deref().expect("clap requires --model");
            (
                clip_query(clip, model, &a.models_dir)?,
                serde_json::json!({ "audio": clip, "model": model }),
            )
        }
        (None, None) => unreachable!("clap requires a query"),
    };
    tracing::info!(rows, tables = tables.len(), top = a.top, "searching");
    let t0 = std::time::Instant::now();
    let use_index = if a.no_index {
        UseIndex::No
    } else {
        UseIndex::Build
    };
    let (hits, sources) = soundscape_vectors::search::search(&tables, &query, a.top, use_index)
        .map_err(|e| anyhow!(e))?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut batch =
        soundscape_vectors::search::hits_table(&tables, &hits).map_err(|e| anyhow!(e))?;
    let mut no_media = std::collections::BTreeMap::new();
    if !a.no_clips {
        (batch, no_media) = soundscape_vectors::search::with_media(
            &tables,
            &hits,
            &batch,
            &a.out,
            a.audio.audio_root.clone(),
        )
        .map_err(|e| anyhow!(e))?;
    }
    let parquet = a.out.join("hits.parquet");
    soundscape_table::soundscape::write_parquet_atomic(&parquet, &batch.schema(), |w| {
        w.write(&batch)?;
        Ok(())
    })
    .map_err(|e| anyhow!("{}: {e}", parquet.display()))?;
    let csv = a.out.join("hits.csv");
    soundscape_core::fsutil::write_atomic(&csv, &hits_csv(&batch)?)
        .with_context(|| format!("cannot write {}", csv.display()))?;
    let mut report = Report::new(
        "search",
        SearchDetails {
            query: described,
            tables: sources,
            rows,
            hits: hits.len(),
            seconds,
        },
    );
    report.outputs = vec![parquet.display().to_string(), csv.display().to_string()];
    if query.iter().all(|v| *v == 0.0) {
        report.warnings.push(
            "the query's embedding is all zeros: every window is as similar as any other".into(),
        );
    }
    for (why, n) in &no_media {
        report
            .warnings
            .push(format!("{n} hits have no clip or thumbnail: {why}"));
    }
    for s in report
        .details
        .tables
        .iter()
        .filter_map(|s| s.note.as_ref().map(|n| (s, n)))
    {
        report
            .warnings
            .push(format!("{}: {}", s.0.table.display(), s.1));
    }
    let nothing = rows == 0;
    if nothing {
        println!("search: the tables hold no rows: nothing to do");
    }
    report.finish(&a.out, 0, nothing)
}

/// The hits table as CSV (what people open first).
fn hits_csv(b: &arrow::record_batch::RecordBatch) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut out)
        .write(b)?;
    Ok(out)
}
