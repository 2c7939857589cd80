//! The soundscape pipeline as a workflow.
//!
//! - [`spec`]: the typed DAG spec (stages, arguments, environment, credentials, resources,
//!   retries, deadlines, fan-out over batches of units, housekeeping).
//! - [`pipeline`]: the six stages of the soundscape pipeline in that spec.
//! - [`check`]: the spec's own checks (no cycles, every reference defined).
//! - [`argo`]: rendering to an Argo `WorkflowTemplate` and `Workflow`s.
//! - [`validate`]: strict validation against the vendored Argo schema and CRDs.
//! - [`local`]: the same spec run on one machine.
//! - [`batch`]: one per-unit stage over the units of one batch (what a batch pod runs).
//! - [`scale`]: what a run of many units costs Argo: fan-out parameter, nodes, object size.

pub mod argo;
pub mod batch;
pub mod check;
pub mod local;
pub mod pipeline;
pub mod scale;
pub mod spec;
pub mod validate;

pub use pipeline::soundscape;
pub use spec::{Pipeline, Settings};
