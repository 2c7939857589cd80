//! Chunks into object storage (`capture-stream --store URL`): the output folder becomes a
//! spool. A finished chunk is put at `<prefix>/<path>`, `path` being its path in the index,
//! and its local file is removed once the store holds it; the index is mirrored as hourly
//! pieces `<prefix>/_index/<YYYY-MM-DD>/<HH>.jsonl`, each holding the records whose time
//! starts in that hour, a chunk's record only once the chunk is in the store.
//!
//! Nothing is lost when the store is away: a chunk that cannot be put stays in the spool and is
//! tried again with a growing wait (up to five minutes) for as long as the capture runs, and at
//! the next start (the chunks left in the spool are found through the local index). A put that
//! finds an object of the same content (an answer lost on the way) counts as done; one that
//! finds other content never overwrites it: the chunk stays in the spool and is reported. A
//! piece is read back before its first put of a run and merged line by line, so a restart
//! neither drops nor repeats a record.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use soundscape_upload::store::StoreTarget;
use soundscape_upload::{Action, Existing, LocalFile};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::index::{Record, INDEX_FILE};
use crate::timeline::{now_micros, rfc3339};

/// The folder of the index pieces below the store prefix (no source may have this name).
pub const INDEX_PREFIX: &str = "_index";

/// Chunks put at once.
const JOBS: usize = 4;
/// How often changed index pieces are put.
const PIECE_INTERVAL: Duration = Duration::from_secs(30);
/// Longest wait before a failed chunk is tried again.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// One index record on its way to the store.
#[derive(Debug, Clone)]
pub struct Mirrored {
    /// The hour piece, `YYYY-MM-DD/HH`.
    pub piece: String,
    /// The record's JSON line (no newline).
    pub line: String,
    /// For a chunk record: the chunk's path in the spool, put before the line goes up.
    pub chunk: Option<String>,
}

impl Mirrored {
    pub fn of(record: &Record, line: &str) -> Mirrored {
        let (t, chunk) = match record {
            Record::Chunk(c) => (&c.start, Some(c.path.clone())),
            Record::Gap(g) => (&g.gap_start, None),
        };
        Mirrored {
            piece: piece_of(t),
            line: line.to_string(),
            chunk,
        }
    }
}

/// The hour piece of an index time (`2026-12-03T08:00:00.000000Z` -> `2026-12-03/08`).
fn piece_of(t: &str) -> String {
    match (t.get(0..10), t.get(11..13)) {
        (Some(day), Some(hour)) => format!("{day}/{hour}"),
        _ => "unknown/00".to_string(),
    }
}

/// Counters of the uploads, read by `/metrics` and `/health`.
#[derive(Debug, Default)]
pub struct StoreStats {
    pub uploaded: AtomicU64,
    pub bytes: AtomicU64,
    pub pending: AtomicU64,
    /// Failed attempts (each is tried again).
    pub errors: AtomicU64,
    pub conflicts: AtomicU64,
    pub pieces_written: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// What the uploads did, for `capture_report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    pub url: String,
    pub uploaded: u64,
    pub bytes: u64,
    pub upload_errors: u64,
    /// Chunks still in the spool (put at the next start).
    pub pending: Vec<String>,
    /// Chunks whose key holds other content in the store; they stay in the spool.
    pub conflicts: Vec<String>,
    pub index_pieces_written: u64,
    /// Index pieces whose last change did not reach the store (written at the next start).
    pub index_pieces_unwritten: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl StoreReport {
    /// Whether something did not reach the store.
    pub fn partial(&self) -> bool {
        !self.pending.is_empty()
            || !self.conflicts.is_empty()
            || !self.index_pieces_unwritten.is_empty()
    }
}

/// The running uploads.
pub struct StoreOut {
    pub stats: Arc<StoreStats>,
    stop: tokio::sync::oneshot::Sender<Instant>,
    task: tokio::task::JoinHandle<StoreReport>,
}

impl StoreOut {
    /// Starts the uploads on `rt`: first what `resume` names (an earlier run's leftovers), then
    /// whatever comes through the index's mirror channel.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        target: StoreTarget,
        store: Arc<dyn ObjectStore>,
        prefix: StorePath,
        spool: PathBuf,
        resume: Vec<Mirrored>,
        rx: UnboundedReceiver<Mirrored>,
    ) -> StoreOut {
        let stats = Arc::new(StoreStats::default());
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let mut up = Uploader {
            url: target.id().to_string(),
            target: Arc::new(target),
            store,
            prefix,
            spool,
            stats: stats.clone(),
            ready: VecDeque::new(),
            waiting: Vec::new(),
            in_flight: HashSet::new(),
            pieces: BTreeMap::new(),
            conflicts: Vec::new(),
        };
        for m in resume {
            up.take(m);
        }
        let task = rt.spawn(up.run(rx, stop_rx));
        StoreOut { stats, stop, task }
    }

    /// Puts what is left until `deadline`, then the index pieces; returns the report.
    pub fn finish(self, rt: &tokio::runtime::Runtime, deadline: Instant) -> StoreReport {
        let _ = self.stop.send(deadline);
        rt.block_on(self.task).unwrap_or_else(|e| StoreReport {
            url: String::new(),
            uploaded: self.stats.uploaded.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            upload_errors: self.stats.errors.load(Ordering::Relaxed),
            pending: vec![],
            conflicts: vec![],
            index_pieces_written: self.stats.pieces_written.load(Ordering::Relaxed),
            index_pieces_unwritten: vec![],
            last_error: Some(format!("internal error in the uploads: {e}")),
        })
    }
}

struct Job {
    rel: String,
    piece: String,
    line: String,
    attempts: u32,
    not_before: Instant,
}

#[derive(Default)]
struct Piece {
    lines: Vec<String>,
    seen: HashSet<String>,
    /// The store's copy was read and merged.
    loaded: bool,
    dirty: bool,
}

struct Uploader {
    url: String,
    target: Arc<StoreTarget>,
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    spool: PathBuf,
    stats: Arc<StoreStats>,
    ready: VecDeque<Job>,
    waiting: Vec<Job>,
    in_flight: HashSet<String>,
    pieces: BTreeMap<String, Piece>,
    conflicts: Vec<String>,
}

type Done = (Job, Result<(Action, u64), String>);

impl Uploader {
    fn take(&mut self, m: Mirrored) {
        match m.chunk {
            Some(rel) => {
                self.stats.pending.fetch_add(1, Ordering::Relaxed);
                self.ready.push_back(Job {
                    rel,
                    piece: m.piece,
                    line: m.line,
                    attempts: 0,
                    not_before: Instant::now(),
                });
            }
            None => self.add_line(m.piece, m.line),
        }
    }

    fn add_line(&mut self, piece: String, line: String) {
        let p = self.pieces.entry(piece).or_default();
        if p.seen.insert(line.clone()) {
            p.lines.push(line);
            p.dirty = true;
        }
    }

    fn next_job(&mut self) -> Option<Job> {
        if let Some(j) = self.ready.pop_front() {
            return Some(j);
        }
        let now = Instant::now();
        let i = self.waiting.iter().position(|j| j.not_before <= now)?;
        Some(self.waiting.swap_remove(i))
    }

    fn put_chunk(&self, job: Job) -> impl std::future::Future<Output = Done> + Send + 'static {
        let target = self.target.clone();
        let path = self.spool.join(&job.rel);
        async move {
            let result = async {
                let content = tokio::fs::read(&path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let size = content.len() as u64;
                let (folder, name) = job.rel.rsplit_once('/').unwrap_or(("", &job.rel));
                let f = LocalFile::new(path.clone(), folder.to_string(), name, content);
                // Keep: other content under the key is someone else's and is never replaced.
                let placed = target.place(&f, None, Existing::Keep).await?;
                Ok((placed.action, size))
            }
            .await;
            (job, result)
        }
    }

    fn done(&mut self, (mut job, result): Done) {
        self.in_flight.remove(&job.rel);
        match result {
            Ok((Action::Kept, _)) => {
                self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                let msg = format!(
                    "{}: the store holds other content under this key; the chunk stays in {}",
                    job.rel,
                    self.spool.display()
                );
                tracing::error!(error = %msg, "chunk not uploaded");
                self.conflicts.push(msg);
            }
            Ok((_, size)) => {
                self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                self.stats.uploaded.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes.fetch_add(size, Ordering::Relaxed);
                let local = self.spool.join(&job.rel);
                if let Err(e) = std::fs::remove_file(&local) {
                    tracing::warn!(path = %local.display(), error = %e, "uploaded chunk not removed from the spool");
                }
                self.add_line(job.piece, job.line);
            }
            Err(e) => {
                job.attempts += 1;
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                let wait = Duration::from_secs(2)
                    .saturating_mul(1 << (job.attempts - 1).min(10))
                    .min(MAX_RETRY_WAIT);
                tracing::warn!(chunk = %job.rel, attempt = job.attempts, wait_s = wait.as_secs(), error = %e, "chunk upload failed; trying again");
                *self
                    .stats
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e);
                job.not_before = Instant::now() + wait;
                self.waiting.push(job);
            }
        }
    }

    fn piece_key(&self, piece: &str) -> StorePath {
        let mut key = self.prefix.clone().join(INDEX_PREFIX);
        for part in format!("{piece}.jsonl").split('/') {
            key = key.join(part);
        }
        key
    }

    /// Puts every changed piece, reading the store's copy first the first time; pieces more
    /// than two hours old that are in the store are forgotten.
    async fn put_pieces(&mut self) {
        let keys: Vec<String> = self
            .pieces
            .iter()
            .filter(|(_, p)| p.dirty)
            .map(|(k, _)| k.clone())
            .collect();
        for name in keys {
            let key = self.piece_key(&name);
            let p = self.pieces.get_mut(&name).expect("listed");
            if !p.loaded {
                match self.store.get(&key).await {
                    Ok(r) => match r.bytes().await {
                        Ok(bytes) => {
                            let text = String::from_utf8_lossy(&bytes);
                            let mut merged: Vec<String> = Vec::new();
                            let mut seen = HashSet::new();
                            for l in text.lines().filter(|l| !l.trim().is_empty()) {
                                if seen.insert(l.to_string()) {
                                    merged.push(l.to_string());
                                }
                            }
                            for l in p.lines.drain(..) {
                                if seen.insert(l.clone()) {
                                    merged.push(l);
                                }
                            }
                            p.lines = merged;
                            p.seen = seen;
                            p.loaded = true;
                        }
                        Err(e) => {
                            self.piece_error(&name, e);
                            continue;
                        }
                    },
                    Err(object_store::Error::NotFound { .. }) => p.loaded = true,
                    Err(e) => {
                        self.piece_error(&name, e);
                        continue;
                    }
                }
            }
            let p = self.pieces.get_mut(&name).expect("listed");
            let mut body = p.lines.join("\n");
            body.push('\n');
            match self.store.put(&key, PutPayload::from(body)).await {
                Ok(_) => {
                    p.dirty = false;
                    self.stats.pieces_written.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => self.piece_error(&name, e),
            }
        }
        let old = piece_of(&rfc3339(now_micros() - 2 * 3_600_000_000));
        self.pieces
            .retain(|k, p| p.dirty || k.as_str() >= old.as_str());
    }

    fn piece_error(&self, name: &str, e: object_store::Error) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let msg = format!("index piece {name}: {e}");
        tracing::warn!(error = %msg, "index piece not written; trying again");
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(msg);
    }

    async fn run(
        mut self,
        mut rx: UnboundedReceiver<Mirrored>,
        mut stop: tokio::sync::oneshot::Receiver<Instant>,
    ) -> StoreReport {
        let mut running = FuturesUnordered::new();
        let mut deadline: Option<Instant> = None;
        let mut rx_open = true;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_put = Instant::now();
        loop {
            while running.len() < JOBS {
                let Some(job) = self.next_job() else { break };
                if !self.in_flight.insert(job.rel.clone()) {
                    // The same chunk twice (a restart that found it twice): the first one does.
                    self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
                running.push(self.put_chunk(job));
            }
            if let Some(d) = deadline {
                let idle = running.is_empty() && self.ready.is_empty() && self.waiting.is_empty();
                if idle || Instant::now() >= d {
                    break;
                }
            }
            tokio::select! {
                m = rx.recv(), if rx_open => match m {
                    Some(m) => self.take(m),
                    None => rx_open = false,
                },
                Some(done) = running.next(), if !running.is_empty() => self.done(done),
                d = &mut stop, if deadline.is_none() => {
                    let d = d.unwrap_or_else(|_| Instant::now());
                    deadline = Some(d);
                    // At the stop the failed chunks get one more try at once.
                    for j in &mut self.waiting {
                        j.not_before = Instant::now();
                    }
                }
                _ = tick.tick() => {
                    if last_put.elapsed() >= PIECE_INTERVAL {
                        self.put_pieces().await;
                        last_put = Instant::now();
                    }
                }
            }
        }
        while let Ok(m) = rx.try_recv() {
            self.take(m);
        }
        // The pieces get a few seconds even when the chunks used up the time.
        let left = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
            .max(Duration::from_secs(5));
        let _ = tokio::time::timeout(left, self.put_pieces()).await;
        let mut pending: Vec<String> = self
            .ready
            .iter()
            .chain(&self.waiting)
            .map(|j| j.rel.clone())
            .chain(self.in_flight.iter().cloned())
            .collect();
        pending.sort();
        pending.dedup();
        StoreReport {
            url: self.url.clone(),
            uploaded: self.stats.uploaded.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            upload_errors: self.stats.errors.load(Ordering::Relaxed),
            pending,
            conflicts: self.conflicts.clone(),
            index_pieces_written: self.stats.pieces_written.load(Ordering::Relaxed),
            index_pieces_unwritten: self
                .pieces
                .iter()
                .filter(|(_, p)| p.dirty)
                .map(|(k, _)| k.clone())
                .collect(),
            last_error: self
                .stats
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// What an earlier run left for the store: every chunk still in the spool (with its index
/// record), and the records of the last three hour pieces of the local index (a piece whose
/// last put was lost is completed; the merge drops what the store already has).
pub fn leftovers(spool: &Path) -> std::io::Result<(Vec<Mirrored>, Vec<String>)> {
    let mut files: HashSet<String> = HashSet::new();
    for e in walkdir::WalkDir::new(spool)
        .min_depth(3)
        .max_depth(3)
        .into_iter()
        .filter_map(Result::ok)
    {
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && name.ends_with(".flac") && !name.starts_with('.') {
            if let Ok(rel) = e.path().strip_prefix(spool) {
                files.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    let mut recent: BTreeMap<String, Vec<Mirrored>> = BTreeMap::new();
    let f = match std::fs::File::open(spool.join(INDEX_FILE)) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    for line in f
        .map(|f| std::io::BufReader::new(f).lines())
        .into_iter()
        .flatten()
    {
        let line = line?;
        let Ok(record) = serde_json::from_str::<Record>(&line) else {
            continue;
        };
        let mut m = Mirrored::of(&record, &line);
        match &m.chunk {
            Some(rel) if files.remove(rel) => out.push(m),
            _ => {
                m.chunk = None;
                recent.entry(m.piece.clone()).or_default().push(m);
                while recent.len() > 3 {
                    recent.pop_first();
                }
            }
        }
    }
    out.extend(recent.into_values().flatten());
    let mut orphans: Vec<String> = files.into_iter().collect();
    orphans.sort();
    Ok((out, orphans))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_line(rel: &str) -> String {
        format!(
            r#"{{"type":"chunk","source":"a","channel":0,"start":"2026-12-03T08:00:00.000000Z","end":"2026-12-03T08:00:01.000000Z","duration_s":1.0,"samples":8000,"sample_rate":8000,"bits":16,"path":"{rel}"}}"#
        )
    }

    /// Against a local store: a chunk already there with the same content counts as put, one
    /// whose key holds other content is never replaced and stays in the spool; the index
    /// piece merges with the store's copy without repeating a line.
    #[test]
    fn same_content_is_done_other_content_is_kept_and_pieces_merge() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let url = format!("file://{}", bucket.path().display());
        let (store, prefix) = soundscape_store::open_store(&url).unwrap();
        let day = spool.path().join("a/2026-12-03");
        std::fs::create_dir_all(&day).unwrap();
        let remote = bucket.path().join("a/2026-12-03");
        std::fs::create_dir_all(&remote).unwrap();
        for (name, local, there) in [
            ("a_20261203_080000.flac", "same", Some("same")),
            ("a_20261203_080001.flac", "mine", Some("theirs")),
            ("a_20261203_080002.flac", "new", None),
        ] {
            std::fs::write(day.join(name), local).unwrap();
            if let Some(t) = there {
                std::fs::write(remote.join(name), t).unwrap();
            }
        }
        let piece = bucket.path().join("_index/2026-12-03/08.jsonl");
        std::fs::create_dir_all(piece.parent().unwrap()).unwrap();
        let old = chunk_line("a/2026-12-03/a_20261203_080000.flac");
        std::fs::write(&piece, format!("{old}\n")).unwrap();
        let index: String = (0..3)
            .map(|k| chunk_line(&format!("a/2026-12-03/a_20261203_08000{k}.flac")) + "\n")
            .collect();
        std::fs::write(spool.path().join(INDEX_FILE), index).unwrap();

        let (resume, orphans) = leftovers(spool.path()).unwrap();
        assert_eq!(resume.len(), 3);
        assert!(orphans.is_empty());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let target = StoreTarget::new(store.clone(), prefix.clone(), &url);
        let out = StoreOut::start(&rt, target, store, prefix, spool.path().into(), resume, rx);
        let report = out.finish(&rt, Instant::now() + Duration::from_secs(10));
        assert_eq!(report.uploaded, 2, "{report:?}");
        assert_eq!(report.conflicts.len(), 1, "{report:?}");
        assert!(report.conflicts[0].contains("a_20261203_080001.flac"));
        assert!(report.pending.is_empty() && report.index_pieces_unwritten.is_empty());
        assert_eq!(
            std::fs::read_to_string(remote.join("a_20261203_080001.flac")).unwrap(),
            "theirs"
        );
        assert!(
            day.join("a_20261203_080001.flac").is_file(),
            "the conflicting chunk stays"
        );
        assert!(!day.join("a_20261203_080000.flac").exists());
        assert_eq!(
            std::fs::read_to_string(remote.join("a_20261203_080002.flac")).unwrap(),
            "new"
        );
        let lines: Vec<String> = std::fs::read_to_string(&piece)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(
            lines,
            vec![old, chunk_line("a/2026-12-03/a_20261203_080002.flac")],
            "the store's line once, the new chunk's line, not the conflicting one"
        );
    }

    #[test]
    fn records_fall_into_hour_pieces() {
        assert_eq!(piece_of("2026-12-03T08:59:59.999999Z"), "2026-12-03/08");
        assert_eq!(piece_of("bad"), "unknown/00");
    }
}
