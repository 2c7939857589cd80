//! The network of a model, loaded with tract (pure Rust ONNX inference) and optimised once
//! for a fixed batch; `run` is `&self` and may be called from many threads at once. Each call
//! borrows a tract session (its ops' states) from a pool, so that threads do not build one per
//! window.
//!
//! Elementwise steps at the head of a graph (a multiplication, addition, subtraction or
//! division by a constant, such as BirdNET's input batch normalisation over its two channels,
//! or batbot's picture normalisation once its byte input is given as float32) are taken out of
//! the graph and done here, with the same float32 operations in the same order: tract runs a
//! constant that broadcasts over a short last axis on its generic path (4 ms of BirdNET's 30
//! per window), a plain loop at memory speed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use crate::manifest::{Dtype, Manifest};

/// An elementwise step on the input, by a constant broadcast to one window's input.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Mul(Vec<f32>),
    Add(Vec<f32>),
    /// The input minus the constant.
    Sub(Vec<f32>),
    /// The input over the constant.
    Div(Vec<f32>),
}

pub struct Network {
    plan: Arc<TypedRunnableModel>,
    /// The graph's leading elementwise steps, done before the graph runs.
    steps: Vec<Step>,
    /// Sessions not in use (at most one per thread that ran the network).
    sessions: Mutex<Vec<TypedSimpleState>>,
    batch: usize,
    per_window: usize,
    dtype: Dtype,
    embedding: Option<usize>,
    scores: Option<usize>,
}

/// What one batch gave: per window, the embedding and the raw scores (either may be empty).
pub struct BatchOutput {
    pub embeddings: Vec<Vec<f32>>,
    pub scores: Vec<Vec<f32>>,
}

impl Network {
    /// Loads `weights` for the manifest's input shape with `batch` windows per run.
    pub fn load(manifest: &Manifest, weights: &Path, batch: usize) -> Result<Network, String> {
        Self::load_with(manifest, weights, batch, true)
    }

    /// [`Network::load`], with the leading elementwise steps left in the graph unless `fold`.
    pub fn load_with(
        manifest: &Manifest,
        weights: &Path,
        batch: usize,
        fold: bool,
    ) -> Result<Network, String> {
        let err = |e: TractError| format!("{}: {e:#}", weights.display());
        let typed = |dtype: Dtype| -> TractResult<TypedModel> {
            let mut model = tract_onnx::onnx().model_for_path(weights)?;
            if let Some(name) = &manifest.input.name {
                model = model.with_input_names([name.as_str()])?;
            }
            let mut shape = manifest.input.shape.clone();
            shape[0] = batch;
            let fact: InferenceFact = match dtype {
                Dtype::F32 => f32::fact(&shape).into(),
                Dtype::U8 => u8::fact(&shape).into(),
            };
            model = model.with_input_fact(0, fact)?;
            let names: Vec<&str> = [&manifest.outputs.embedding, &manifest.outputs.scores]
                .into_iter()
                .flatten()
                .map(|s| s.as_str())
                .collect();
            model.select_outputs_by_name(names.iter())?;
            model.into_typed()?.into_decluttered()
        };
        let mut dtype = manifest.input.dtype;
        let mut model = typed(dtype).map_err(err)?;
        // A byte input whose only use is a cast to float32 (batbot's picture) takes the
        // bytes' values as float32 instead (the same numbers), so that the steps after the
        // cast can be taken out too.
        if fold && dtype == Dtype::U8 && only_cast_to_f32(&model).map_err(err)? {
            dtype = Dtype::F32;
            model = typed(dtype).map_err(err)?;
        }
        let steps = match (fold, dtype) {
            (true, Dtype::F32) => take_input_steps(&mut model).map_err(err)?,
            _ => vec![],
        };
        let plan = model
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        let embedding = manifest.outputs.embedding.as_ref().map(|_| 0);
        let scores = manifest
            .outputs
            .scores
            .as_ref()
            .map(|_| embedding.map_or(0, |_| 1));
        Ok(Network {
            plan,
            steps,
            sessions: Mutex::new(Vec::new()),
            batch,
            per_window: manifest.input.shape[1..].iter().product(),
            dtype,
            embedding,
            scores,
        })
    }

    /// Runs the network `runs` times on `input` (as [`Network::run`] takes it) and returns the
    /// seconds per run spent in each kind of operation, largest first (for benchmarks).
    pub fn profile(
        &self,
        input: &[f32],
        shape: &[usize],
        runs: usize,
    ) -> Result<Vec<(String, f64)>, String> {
        let mut input = input.to_vec();
        self.apply_steps(&mut input, self.batch);
        let tensor = self.tensor(&input, shape)?;
        let mut spent: std::collections::HashMap<String, f64> = Default::default();
        let mut session = self.plan.spawn().map_err(|e| e.to_string())?;
        for _ in 0..runs {
            session
                .run_plan_with_eval(tvec!(tensor.clone().into()), |ctx, state, node, inputs| {
                    let t0 = std::time::Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, state, node, inputs);
                    *spent.entry(node.op().name().to_string()).or_default() +=
                        t0.elapsed().as_secs_f64();
                    out
                })
                .map_err(|e| format!("inference: {e:#}"))?;
        }
        let mut by_op: Vec<(String, f64)> = spent
            .into_iter()
            .map(|(k, v)| (k, v / runs.max(1) as f64))
            .collect();
        by_op.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(by_op)
    }

    /// The input tensor of a batch (`shape` with the batch as its first axis).
    fn tensor(&self, input: &[f32], shape: &[usize]) -> Result<Tensor, String> {
        let mut shape = shape.to_vec();
        shape[0] = self.batch;
        match self.dtype {
            Dtype::F32 => Tensor::from_shape(&shape, input),
            Dtype::U8 => {
                let bytes: Vec<u8> = input.iter().map(|&v| v.clamp(0.0, 255.0) as u8).collect();
                Tensor::from_shape(&shape, &bytes)
            }
        }
        .map_err(|e| e.to_string())
    }

    /// How many leading elementwise steps were taken out of the graph.
    pub fn input_steps(&self) -> usize {
        self.steps.len()
    }

    /// The leading steps on the first `n` windows of `input`.
    fn apply_steps(&self, input: &mut [f32], n: usize) {
        if self.steps.is_empty() {
            return;
        }
        for x in input.chunks_exact_mut(self.per_window).take(n) {
            for step in &self.steps {
                match step {
                    Step::Mul(k) => x.iter_mut().zip(k).for_each(|(x, k)| *x *= k),
                    Step::Add(k) => x.iter_mut().zip(k).for_each(|(x, k)| *x += k),
                    Step::Sub(k) => x.iter_mut().zip(k).for_each(|(x, k)| *x -= k),
                    Step::Div(k) => x.iter_mut().zip(k).for_each(|(x, k)| *x /= k),
                }
            }
        }
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Length of the embedding output per window, from the optimised graph's output shape (0
    /// without an embedding output, or when the graph does not say).
    pub fn embedding_dim(&self) -> usize {
        let Some(ix) = self.embedding else { return 0 };
        self.plan
            .model()
            .output_fact(ix)
            .ok()
            .and_then(|f| f.shape.as_concrete().map(|d| d.iter().product::<usize>()))
            .map_or(0, |n| n / self.batch)
    }

    /// Runs `n <= batch` windows whose inputs fill the first `n * per_window` values of
    /// `input` (the rest is ignored and zeroed). A byte input takes the values as bytes.
    pub fn run(&self, input: &mut [f32], n: usize, shape: &[usize]) -> Result<BatchOutput, String> {
        debug_assert!(n <= self.batch && input.len() == self.batch * self.per_window);
        input[n * self.per_window..]
            .iter_mut()
            .for_each(|v| *v = 0.0);
        self.apply_steps(input, n);
        let tensor = self.tensor(input, shape)?;
        let pooled = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let mut session = match pooled {
            Some(s) => s,
            None => self.plan.spawn().map_err(|e| format!("inference: {e:#}"))?,
        };
        let outputs = session
            .run(tvec!(tensor.into()))
            .map_err(|e| format!("inference: {e:#}"))?;
        // A session whose run failed is dropped, not reused.
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        let rows = |ix: Option<usize>| -> Result<Vec<Vec<f32>>, String> {
            let Some(ix) = ix else { return Ok(vec![]) };
            let view = outputs[ix]
                .to_plain_array_view::<f32>()
                .map_err(|e| format!("output {ix}: {e}"))?;
            let dim = view.len() / self.batch;
            let flat: Vec<f32> = view.iter().copied().collect();
            Ok(flat
                .chunks(dim.max(1))
                .take(n)
                .map(|c| c.to_vec())
                .collect())
        };
        Ok(BatchOutput {
            embeddings: rows(self.embedding)?,
            scores: rows(self.scores)?,
        })
    }
}

/// Whether the graph's only input feeds nothing but one cast to float32.
fn only_cast_to_f32(model: &TypedModel) -> TractResult<bool> {
    let inputs = model.input_outlets()?;
    let [source] = inputs else { return Ok(false) };
    let next = model.outlet_successors(*source);
    Ok(next.len() == 1
        && !model.output_outlets()?.contains(source)
        && model
            .node(next[0].node)
            .op_as::<tract_onnx::tract_core::ops::cast::Cast>()
            .is_some_and(|c| c.to == f32::datum_type()))
}

/// Takes the chain of multiplications, additions, subtractions and divisions by constants
/// (the input on the left of the last two) that begins at the graph's only input out of
/// `model` (the input then feeds what followed the chain) and returns it as steps on one
/// window's input, in order. A constant must broadcast to one window (its first
/// axis 1), and each step keep the input's shape and type.
fn take_input_steps(model: &mut TypedModel) -> TractResult<Vec<Step>> {
    let inputs = model.input_outlets()?;
    if inputs.len() != 1 {
        return Ok(vec![]);
    }
    let source = inputs[0];
    let fact = model.outlet_fact(source)?.clone();
    let Some(shape) = fact.shape.as_concrete().map(|s| s.to_vec()) else {
        return Ok(vec![]);
    };
    if fact.datum_type != f32::datum_type() || shape.is_empty() {
        return Ok(vec![]);
    }
    let mut one = shape.clone();
    one[0] = 1;
    let mut steps = Vec::new();
    let mut at = source;
    loop {
        let next = model.outlet_successors(at);
        // The chain continues only through a node that is the value's one consumer, and the
        // graph's outputs must not read a value inside it.
        if next.len() != 1 || model.output_outlets()?.contains(&at) {
            break;
        }
        let node = model.node(next[0].node);
        let op = node.op().name();
        let commutes = matches!(op.as_ref(), "Mul" | "Add");
        let left = matches!(op.as_ref(), "Sub" | "Div") && next[0].slot == 0;
        if !(commutes || left) || node.inputs.len() != 2 {
            break;
        }
        let out = OutletId::new(node.id, 0);
        let out_fact = model.outlet_fact(out)?;
        if node.outputs.len() != 1
            || out_fact.shape != fact.shape
            || out_fact.datum_type != fact.datum_type
        {
            break;
        }
        let other = node.inputs[1 - next[0].slot];
        let Some(k) = model.outlet_fact(other)?.konst.clone() else {
            break;
        };
        if k.datum_type() != f32::datum_type() {
            break;
        }
        let view = k.to_plain_array_view::<f32>()?;
        let Some(full) = view.broadcast(one.clone()) else {
            break;
        };
        let values: Vec<f32> = full.iter().copied().collect();
        steps.push(match op.as_ref() {
            "Mul" => Step::Mul(values),
            "Add" => Step::Add(values),
            "Sub" => Step::Sub(values),
            _ => Step::Div(values),
        });
        at = out;
    }
    if at != source {
        let mut patch = TypedModelPatch::new("leading elementwise steps done outside the graph");
        let tap = patch.tap_model(model, source)?;
        patch.shunt_outside(model, at, tap)?;
        patch.apply(model)?;
        model.declutter()?;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmodel::{model_bytes, tensor, value_info};
    use tract_onnx::pb::{GraphProto, NodeProto};

    fn node(op: &str, a: &str, b: &str, out: &str) -> NodeProto {
        NodeProto {
            input: [a, b]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string())
                .collect(),
            output: vec![out.into()],
            name: out.into(),
            op_type: op.into(),
            ..Default::default()
        }
    }

    /// x [B, 5, 3] times a per-channel constant, plus one, times a per-row constant, minus a
    /// scalar, over a per-channel constant: five leading steps; then a subtraction from a
    /// constant and a ReLU, which stay in the graph.
    fn write(dir: &Path) -> (Manifest, std::path::PathBuf) {
        let graph = GraphProto {
            name: "head".into(),
            node: vec![
                node("Mul", "x", "a", "xa"),
                node("Add", "b", "xa", "xab"),
                node("Mul", "xab", "c", "xabc"),
                node("Sub", "xabc", "d", "xabcd"),
                node("Div", "xabcd", "e", "xabcde"),
                // The input on the right of a subtraction ends the chain.
                node("Sub", "f", "xabcde", "fx"),
                node("Relu", "fx", "", "y"),
            ],
            initializer: vec![
                tensor("a", vec![1, 1, 3], vec![0.3, -1.7, 2.9]),
                tensor("b", vec![3], vec![0.1, 0.2, -0.3]),
                tensor("c", vec![1, 5, 1], vec![1.1, 0.9, -0.5, 3.3, 0.77]),
                tensor("d", vec![1], vec![0.37]),
                tensor("e", vec![1, 1, 3], vec![0.3, 7.0, -1.3]),
                tensor("f", vec![1, 1, 3], vec![0.5, -0.5, 0.25]),
            ],
            input: vec![value_info("x", &[1, 5, 3])],
            output: vec![value_info("y", &[1, 5, 3])],
            ..Default::default()
        };
        std::fs::create_dir_all(dir).unwrap();
        let weights = dir.join("model.onnx");
        std::fs::write(&weights, model_bytes(graph)).unwrap();
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "name": "head", "version": "1", "licence": "test", "weights": "model.onnx",
            "sha256": {}, "sample_rate": 16000, "window_s": 1.0,
            "front_end": {"kind": "waveform"},
            "input": {"name": "x", "shape": [1, 5, 3]},
            "outputs": {"embedding": "y"},
            "activation": {"kind": "identity"},
        }))
        .unwrap();
        (manifest, weights)
    }

    #[test]
    fn leading_steps_done_outside_the_graph_give_the_graphs_bits() {
        let dir = tempfile::tempdir().unwrap();
        let (manifest, weights) = write(dir.path());
        let mut state = 7u32;
        let mut noise = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
        };
        for batch in [1, 2] {
            let folded = Network::load(&manifest, &weights, batch).unwrap();
            let whole = Network::load_with(&manifest, &weights, batch, false).unwrap();
            assert_eq!((folded.input_steps(), whole.input_steps()), (5, 0));
            for _ in 0..20 {
                let x: Vec<f32> = (0..15 * batch).map(|_| noise()).collect();
                let run = |net: &Network| {
                    let mut input = x.clone();
                    net.run(&mut input, batch, &[1, 5, 3]).unwrap().embeddings
                };
                let (a, b) = (run(&folded), run(&whole));
                assert_eq!(a.len(), batch);
                let bits = |v: &Vec<Vec<f32>>| -> Vec<u32> {
                    v.iter().flatten().map(|x| x.to_bits()).collect()
                };
                assert_eq!(bits(&a), bits(&b), "batch {batch}");
            }
        }
    }
}
