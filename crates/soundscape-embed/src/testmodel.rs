//! A tiny ONNX model with its manifest, written from Rust for tests and demos: 1 s windows at
//! 16 kHz, a 4-d embedding of linear features (mean, correlation with 1 kHz and 3 kHz
//! cosines, and with the Nyquist alternation) and softmax scores of three labels over the
//! last three, scaled by 100. Its outputs are known in closed form, so tests can check the
//! whole path (decode, windows, padding, batches, tables) against arithmetic.

use std::path::Path;

use prost::Message;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{
    type_proto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::manifest::sha256_file;

pub const NAME: &str = "test-linear";
pub const SAMPLE_RATE: u32 = 16_000;
pub const LABELS: [&str; 3] = ["tone_1k", "tone_3k", "nyquist"];

/// The embedding's weights: column `j` of the `[16000, 4]` matrix, at sample `n`.
pub fn weight(n: usize, j: usize) -> f64 {
    let len = SAMPLE_RATE as f64;
    let t = n as f64 / len;
    match j {
        0 => 1.0 / len,
        1 => (2.0 * std::f64::consts::PI * 1000.0 * t).cos() / len,
        2 => (2.0 * std::f64::consts::PI * 3000.0 * t).cos() / len,
        _ => (if n.is_multiple_of(2) { 1.0 } else { -1.0 }) / len,
    }
}

pub(crate) fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn model_bytes(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "soundscape-embed testmodel".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

pub(crate) fn tensor(name: &str, dims: Vec<i64>, data: Vec<f32>) -> TensorProto {
    TensorProto {
        dims,
        data_type: 1,
        float_data: data,
        name: name.into(),
        ..Default::default()
    }
}

/// Writes `graph` as `model.onnx`, the labels (if any) as `labels.txt`, and `model.json`:
/// the fields every test model shares (version, licence, source, files and their sha256)
/// and `fields` (name, rates, front end, tensors).
fn write_model(
    dir: &Path,
    graph: GraphProto,
    labels: &[&str],
    fields: serde_json::Value,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("model.onnx"), model_bytes(graph))?;
    let mut manifest = serde_json::json!({
        "version": "1",
        "licence": "MIT OR Apache-2.0 (made by the tests)",
        "source": "soundscape_embed::testmodel",
        "weights": "model.onnx",
        "sha256": {"model.onnx": sha256_file(&dir.join("model.onnx"))?},
    });
    if !labels.is_empty() {
        std::fs::write(dir.join("labels.txt"), labels.join("\n") + "\n")?;
        manifest["labels"] = "labels.txt".into();
        manifest["sha256"]["labels.txt"] = sha256_file(&dir.join("labels.txt"))?.into();
    }
    if let (Some(m), serde_json::Value::Object(f)) = (manifest.as_object_mut(), fields) {
        m.extend(f);
    }
    std::fs::write(
        dir.join(crate::manifest::MANIFEST_FILE),
        serde_json::to_vec_pretty(&manifest)?,
    )
}

fn matmul(a: &str, b: &str, out: &str) -> NodeProto {
    NodeProto {
        input: vec![a.into(), b.into()],
        output: vec![out.into()],
        name: out.into(),
        op_type: "MatMul".into(),
        ..Default::default()
    }
}

/// Name of the log-mel test model: VGGish's front end and an identity network, so that the
/// front end's output can be compared with VGGish's own code.
pub const LOGMEL_NAME: &str = "test-vggish-frontend";

/// Writes a model whose network returns its `[1, 96, 64]` log-mel patch as the embedding.
pub fn write_logmel(dir: &Path) -> std::io::Result<()> {
    write_identity(
        dir,
        &[1, 96, 64],
        serde_json::json!({
            "name": LOGMEL_NAME,
            "sample_rate": 16000,
            "window_s": 0.975,
            "hop_s": 0.96,
            "front_end": {"kind": "log_mel", "log_offset": 0.01},
        }),
    )
}

/// Name of the PCEN test model: 1 s windows at 16 kHz, PCEN of a 512-point STFT every 128
/// samples with librosa's defaults, and an identity network.
pub const PCEN_NAME: &str = "test-pcen-frontend";

/// Writes a model whose network returns its `[1, 122, 257]` PCEN patch as the embedding.
pub fn write_pcen(dir: &Path) -> std::io::Result<()> {
    write_identity(
        dir,
        &[1, 122, 257],
        serde_json::json!({
            "name": PCEN_NAME,
            "sample_rate": 16000,
            "window_s": 1.0,
            "front_end": {"kind": "pcen", "n_fft": 512, "hop": 128},
        }),
    )
}

/// A model whose network is the identity on an input of `shape`, with the manifest fields
/// `fields` (name, rates, front end).
fn write_identity(dir: &Path, shape: &[i64], mut fields: serde_json::Value) -> std::io::Result<()> {
    let graph = GraphProto {
        name: "identity".into(),
        node: vec![NodeProto {
            input: vec!["patch".into()],
            output: vec!["embedding".into()],
            name: "embedding".into(),
            op_type: "Identity".into(),
            ..Default::default()
        }],
        input: vec![value_info("patch", shape)],
        output: vec![value_info("embedding", shape)],
        ..Default::default()
    };
    fields["input"] = serde_json::json!({"name": "patch", "shape": shape});
    fields["outputs"] = serde_json::json!({"embedding": "embedding"});
    write_model(dir, graph, &[], fields)
}

/// Writes `model.onnx`, `labels.txt` and `model.json` into `dir`.
pub fn write(dir: &Path) -> std::io::Result<()> {
    let n = SAMPLE_RATE as usize;
    let w: Vec<f32> = (0..n)
        .flat_map(|i| (0..4).map(move |j| weight(i, j) as f32))
        .collect();
    let v: Vec<f32> = vec![
        0.0, 0.0, 0.0, //
        100.0, 0.0, 0.0, //
        0.0, 100.0, 0.0, //
        0.0, 0.0, 100.0,
    ];
    let graph = GraphProto {
        name: "test_linear".into(),
        node: vec![
            matmul("audio", "W", "embedding"),
            matmul("embedding", "V", "logits"),
        ],
        initializer: vec![
            tensor("W", vec![n as i64, 4], w),
            tensor("V", vec![4, 3], v),
        ],
        input: vec![value_info("audio", &[1, n as i64])],
        output: vec![
            value_info("embedding", &[1, 4]),
            value_info("logits", &[1, 3]),
        ],
        ..Default::default()
    };
    let manifest = serde_json::json!({
        "name": NAME,
        "sample_rate": SAMPLE_RATE,
        "window_s": 1.0,
        "min_window_s": 0.5,
        "front_end": {"kind": "waveform"},
        "input": {"name": "audio", "shape": [1, n]},
        "outputs": {"embedding": "embedding", "scores": "logits"},
        "activation": {"kind": "softmax"},
    });
    write_model(dir, graph, &LABELS, manifest)
}

/// Name of the image test model: batbot's front end and a network whose embedding is the
/// window's mean grey level per channel and whose scores are `bright = mean / 255` and
/// `dark = 1 - bright`.
pub const IMAGE_NAME: &str = "test-image";
pub const IMAGE_LABELS: [&str; 2] = ["bright", "dark"];

/// Writes the image test model (byte input `[1, 224, 224, 3]`, 250 kHz, 15 s pictures).
pub fn write_image(dir: &Path) -> std::io::Result<()> {
    let node = |op: &str, inputs: &[&str], out: &str, attribute| NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        name: out.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    };
    let ints = |name: &str, v: Vec<i64>| tract_onnx::pb::AttributeProto {
        name: name.into(),
        ints: v,
        r#type: 7,
        ..Default::default()
    };
    let int = |name: &str, v: i64| tract_onnx::pb::AttributeProto {
        name: name.into(),
        i: v,
        r#type: 2,
        ..Default::default()
    };
    let mut input = value_info("image", &[1, 224, 224, 3]);
    if let Some(TypeProto {
        value: Some(type_proto::Value::TensorType(t)),
        ..
    }) = input.r#type.as_mut()
    {
        t.elem_type = 2; // uint8
    }
    let graph = GraphProto {
        name: "test_image".into(),
        node: vec![
            node("Cast", &["image"], "grey", vec![int("to", 1)]),
            node(
                "ReduceMean",
                &["grey"],
                "embedding",
                vec![ints("axes", vec![1, 2]), int("keepdims", 0)],
            ),
            matmul("embedding", "V", "scaled"),
            node("Add", &["scaled", "B"], "scores", vec![]),
        ],
        initializer: vec![
            tensor(
                "V",
                vec![3, 2],
                vec![1.0 / 255.0, -1.0 / 255.0, 0.0, 0.0, 0.0, 0.0],
            ),
            tensor("B", vec![2], vec![0.0, 1.0]),
        ],
        input: vec![input],
        output: vec![
            value_info("embedding", &[1, 3]),
            value_info("scores", &[1, 2]),
        ],
        ..Default::default()
    };
    let manifest = serde_json::json!({
        "name": IMAGE_NAME,
        "sample_rate": 250_000,
        "window_s": 15.0,
        "min_window_s": 0.01,
        "front_end": {"kind": "batbot_image"},
        "input": {"name": "image", "shape": [1, 224, 224, 3], "dtype": "u8"},
        "outputs": {"embedding": "embedding", "scores": "scores"},
    });
    write_model(dir, graph, &IMAGE_LABELS, manifest)
}
