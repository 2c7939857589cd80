//! `import` on shards written here in A2O's layout: rows per window × channel, the names
//! parsed, nuisances and the notebook's filter, a corrupt record reported with its offset
//! while the rest is read, gzip shards, and `recording_index` across shards.

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, Float64Type, Int32Type, Int64Type, TimestampNanosecondType};
use prost::Message;
use soundscape_vectors::example::{BytesList, Example, FloatList, FloatTensor, Int64List, Kind};
use soundscape_vectors::import::{import, Options};
use soundscape_vectors::tfrecord::Writer;

const D: usize = 4;

/// A record of `windows` × `channels` embeddings whose values say where they are
/// (`1000 w + 10 c + k`), with nuisances when `nuisance` gives them.
fn record(
    name: &str,
    t: f32,
    windows: usize,
    channels: usize,
    nuisance: Option<&dyn Fn(usize, usize) -> [f32; 3]>,
) -> Vec<u8> {
    let mut e = Example::default();
    let tensor = |shape: Vec<usize>, values: Vec<f32>| FloatTensor { shape, values }.encode();
    let values = (0..windows)
        .flat_map(|w| {
            (0..channels).flat_map(move |c| (0..D).map(move |k| (1000 * w + 10 * c + k) as f32))
        })
        .collect();
    e.set(
        "filename",
        Kind::Bytes(BytesList {
            value: vec![name.as_bytes().to_vec()],
        }),
    );
    e.set("timestamp_s", Kind::Floats(FloatList { value: vec![t] }));
    e.set(
        "embedding",
        Kind::Bytes(BytesList {
            value: vec![tensor(vec![windows, channels, D], values)],
        }),
    );
    e.set(
        "embedding_shape",
        Kind::Ints(Int64List {
            value: vec![windows as i64, channels as i64, D as i64],
        }),
    );
    if let Some(f) = nuisance {
        let n = (0..windows)
            .flat_map(|w| (0..channels).flat_map(move |c| f(w, c)))
            .collect();
        e.set(
            "nuisances",
            Kind::Bytes(BytesList {
                value: vec![tensor(vec![windows, channels, 3], n)],
            }),
        );
    }
    e.encode_to_vec()
}

fn read(path: &Path) -> arrow::record_batch::RecordBatch {
    soundscape_testkit::read_parquet(path)
}

#[test]
fn shards_into_one_table() {
    let dir = tempfile::tempdir().unwrap();
    // Speech on window 3 of every channel; "empty" 1.0 everywhere (kept on the raw channel,
    // dropped on the separated ones).
    let nuis = |w: usize, _c: usize| [1.0, if w == 3 { 0.0 } else { -1.0 }, 0.0];
    let a2o = "20201126T200000+0800_Great-Western-Woodlands-Wet-A_433266.flac";
    let mut w = Writer::new(Vec::new());
    w.write(&record(a2o, 60.0, 12, 5, Some(&nuis))).unwrap();
    w.write(&record("site_0001/odd-name.flac", 0.0, 2, 1, None))
        .unwrap();
    w.write(&record(a2o, 120.0, 12, 5, Some(&nuis))).unwrap();
    let mut first = w.into_inner();
    // The second record's data corrupted.
    let second = 16 + record(a2o, 60.0, 12, 5, Some(&nuis)).len();
    first[second + 20] ^= 0x55;
    let shard_a = dir.path().join("a2o_sample_embeddings-00000-of-00002");
    std::fs::write(&shard_a, &first).unwrap();
    // A gzip shard of one record.
    let mut w = Writer::new(Vec::new());
    w.write(&record(
        "20210105T043000Z_Tarcutta-Dry-B_12.flac",
        0.0,
        12,
        1,
        None,
    ))
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &w.into_inner()).unwrap();
    let shard_b = dir.path().join("a2o_sample_embeddings-00001-of-00002.gz");
    std::fs::write(&shard_b, gz.finish().unwrap()).unwrap();
    let shards: Vec<PathBuf> = vec![shard_a, shard_b];

    let out = dir.path().join("out");
    let reports = import(&shards, &out, &Options::default()).unwrap();
    assert_eq!(reports[0].records, 2);
    assert_eq!(reports[0].errors.len(), 1);
    assert_eq!(
        reports[0].errors[0].0, second as u64,
        "{:?}",
        reports[0].errors
    );
    assert_eq!(reports[0].rows, 120);
    assert_eq!(reports[1].rows, 12);
    let t = read(&out.join("embeddings.parquet"));
    assert_eq!(t.num_rows(), 132);
    let i32s = |n: &str| {
        t.column_by_name(n)
            .unwrap()
            .as_primitive::<Int32Type>()
            .values()
            .to_vec()
    };
    let (window, channel) = (i32s("window"), i32s("channel"));
    // The record starts 60 s into its file: window 12 of the file.
    assert_eq!((window[7], channel[7]), (13, 2));
    let start = t
        .column_by_name("start_time")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(start.value(7), 65.0);
    let abs = t
        .column_by_name("abs_start")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    // 2020-11-26 20:00 +08:00 is 12:00 UTC; 65 s into the file.
    assert_eq!(abs.value(7), 1_606_392_000_000_000_000 + 65_000_000_000);
    let emb = t.column_by_name("embedding").unwrap().as_fixed_size_list();
    assert_eq!(
        emb.value(7).as_primitive::<Float32Type>().values(),
        &[1020.0, 1021.0, 1022.0, 1023.0]
    );
    let s = |n: &str, i: usize| {
        t.column_by_name(n)
            .unwrap()
            .as_string::<i32>()
            .value(i)
            .to_string()
    };
    assert_eq!(
        (s("node", 0), s("recorder", 0), s("deployment", 0)),
        (
            "Great-Western-Woodlands".into(),
            "Wet-A".into(),
            "2020-11-26".into()
        )
    );
    assert_eq!(
        s("id", 0),
        "20201126T200000+0800_Great-Western-Woodlands-Wet-A_433266"
    );
    let speech = t
        .column_by_name("nuisance_speech")
        .unwrap()
        .as_primitive::<Float32Type>();
    assert_eq!(speech.value(15), 0.0);
    assert!(
        speech.is_null(120),
        "the gzip shard's record has no nuisances"
    );
    // recording_index counts the recordings over the shards in order: the file's two records
    // (60 s and 120 s into it) are one recording; the corrupt one is none.
    let ix = t
        .column_by_name("recording_index")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!((ix.value(0), ix.value(60), ix.value(120)), (0, 0, 1));

    // The notebook's filter: window 3 (speech) and every separated channel (empty > 0) go.
    let filtered = dir.path().join("filtered");
    let reports = import(
        &shards,
        &filtered,
        &Options {
            filter: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(reports[0].filtered, 120 - 2 * 11);
    let t = read(&filtered.join("embeddings.parquet"));
    assert_eq!(t.num_rows(), 2 * 11 + 12);
}
