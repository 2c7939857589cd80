//! The network of a model, loaded with tract (pure Rust ONNX inference) and optimised once
//! for a fixed batch; `run` is `&self` and may be called from many threads at once.

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::manifest::{Dtype, Manifest};

pub struct Network {
    plan: Arc<TypedRunnableModel>,
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
        let err = |e: TractError| format!("{}: {e:#}", weights.display());
        let mut model = tract_onnx::onnx().model_for_path(weights).map_err(err)?;
        if let Some(name) = &manifest.input.name {
            model = model.with_input_names([name.as_str()]).map_err(err)?;
        }
        let mut shape = manifest.input.shape.clone();
        shape[0] = batch;
        let fact: InferenceFact = match manifest.input.dtype {
            Dtype::F32 => f32::fact(&shape).into(),
            Dtype::U8 => u8::fact(&shape).into(),
        };
        model = model.with_input_fact(0, fact).map_err(err)?;
        let names: Vec<&str> = [&manifest.outputs.embedding, &manifest.outputs.scores]
            .into_iter()
            .flatten()
            .map(|s| s.as_str())
            .collect();
        model.select_outputs_by_name(names.iter()).map_err(err)?;
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
            batch,
            per_window: manifest.input.shape[1..].iter().product(),
            dtype: manifest.input.dtype,
            embedding,
            scores,
        })
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
        let mut shape = shape.to_vec();
        shape[0] = self.batch;
        let tensor = match self.dtype {
            Dtype::F32 => Tensor::from_shape(&shape, input),
            Dtype::U8 => {
                let bytes: Vec<u8> = input.iter().map(|&v| v.clamp(0.0, 255.0) as u8).collect();
                Tensor::from_shape(&shape, &bytes)
            }
        }
        .map_err(|e| e.to_string())?;
        let outputs = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| format!("inference: {e:#}"))?;
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
