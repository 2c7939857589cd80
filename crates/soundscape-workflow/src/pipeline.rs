//! The soundscape pipeline: the six stages (docs/workflow.md) as one spec. Run-wide: get-audio-df lists
//! the recordings, cuts the units into batches (`batches.json`) and writes the fan-out items
//! (`fanout.json`); dirstruct makes the unit folders. Per unit, fanned out over the batches:
//! compute-soundscapes, then compute-embeddings when a model is named (and after it
//! extract-samples when a rules file is named too) and spec-n-specvid, and,
//! when a target is configured, upload-alfresco then upload-model, so that each unit is
//! uploaded as soon as it is done. Last, `soundscape collect` gathers the stage reports into
//! `run_summary.json` and the unit tables into one dataset, however the units ended.

use crate::spec::{
    flag, Condition, Deadline, Env, EnvValue, FanOut, Level, Output, Param, Pipeline, Resources,
    Retry, Settings, Step, Text,
};

/// Kubernetes Secrets the uploads read (keys named as the environment variables).
pub const ALFRESCO_SECRET: &str = "soundscape-alfresco";
pub const S3_SECRET: &str = "soundscape-s3";

fn secret(name: &'static str, secret: &'static str) -> Env {
    Env {
        name,
        value: EnvValue::Secret { secret, key: name },
    }
}

fn setting(name: &'static str, param: &'static str) -> Env {
    Env {
        name,
        value: EnvValue::Text(Text::Param(param)),
    }
}

/// Partial failures (some recordings or units failed, exit 3) let the later stages go on with
/// what succeeded; the failures are in the reports.
fn go_on_after_partial_failures() -> Env {
    Env {
        name: "SOUNDSCAPE_PARTIAL_EXIT_CODE",
        value: EnvValue::Text(Text::lit("0")),
    }
}

/// The unit folder of a per-unit step.
fn unit_dir() -> Text {
    Text::Join(vec![Text::Param("results-dir"), Text::lit("/"), Text::Unit])
}

const SMALL: Resources = Resources {
    cpu: "100m",
    memory: "128Mi",
    memory_limit: "512Mi",
};

/// Retries on pod errors (eviction, node loss) only.
const ON_ERROR: Retry = Retry {
    limit: 2,
    backoff: "30s",
    max_duration: "30m",
    expression: None,
};

/// Retries of the network stages: pod errors and runs where some products failed (exit 3);
/// not bad settings (exit 1).
const NETWORK: Retry = Retry {
    limit: 5,
    backoff: "30s",
    max_duration: "1h",
    expression: Some("lastRetry.status == \"Error\" || asInt(lastRetry.exitCode) == 3"),
};

/// Semaphore key of the steps that talk to Alfresco (in the limits ConfigMap).
pub const ALFRESCO_UPLOADS: &str = "alfresco-uploads";

/// Deadlines: the floor covers pod start and small batches; the rates are wall seconds per
/// audio hour on the step's CPU request, about ten times what was measured (docs/capacity.md).
const fn deadline(floor_s: u64, per_hour_s: u64) -> Deadline {
    Deadline {
        floor_s,
        per_hour_s,
    }
}

fn in_work(file: &str) -> Text {
    Text::Join(vec![Text::Param("work-dir"), Text::lit(file)])
}

/// The soundscape pipeline.
pub fn soundscape(s: &Settings) -> Pipeline {
    let p = |name, default: &str, description| Param {
        name,
        default: default.into(),
        description,
    };
    let m = &s.mount;
    let params = vec![
        p("source", &format!("{m}/audio/recordings"), "Recordings: a folder, a CSV/parquet manifest, an s3:// (gs://, az://) prefix, or alfresco"),
        p("layout", "sipecam", "Folder levels under a folder or prefix source (sipecam = {cumulus}/{node}/{recorder}/{deployment})"),
        p("cumulus", "", "Keep only this cumulus (comma-separated for several; empty: all)"),
        p("limit", "", "Keep at most this many recordings (empty: all)"),
        p("from", "", "Keep recordings starting on or after this date, YYYY-MM-DD (empty: no bound)"),
        p("to", "", "Keep recordings starting on or before this date, YYYY-MM-DD (empty: no bound)"),
        p("work-dir", &format!("{m}/soundscape/work"), "Audio table, units manifest, batch plan and run reports"),
        p("results-dir", &format!("{m}/soundscape/results"), "Unit folders with the products"),
        p("dataset-dir", &format!("{m}/soundscape/dataset"), "The run's tables as one Hive-partitioned Parquet dataset"),
        p("fan-out-width", &soundscape_core::batches::DEFAULT_WIDTH.to_string(), "Batches the units are cut into at most (the fan-out width)"),
        p("alfresco-root-node", "", "Alfresco node the products go under (empty: no Alfresco upload)"),
        p("s3-url", "", "Object storage the products go to, e.g. s3://bucket/prefix (empty: none)"),
        p("model", "", "Model of the embeddings and detections step, e.g. birdnet-v2.4 (empty: no such step)"),
        p("models-dir", &format!("{m}/models"), "Folder of the models (each a folder with its model.json) on the shared volume"),
        p("min-confidence", "0.1", "Scores at or above this become detections"),
        p("channels", "each", "Channels of multi-channel recordings in the embeddings step: each (a row per window and channel) or mix (their mean)"),
        p("extract-rules", "", "Rules file of the sample extraction step (docs/extract.md; empty: no such step; needs a model)"),
        p("extract-dir", &format!("{m}/soundscape/samples"), "Where the extraction step puts each unit's clips (a folder per unit)"),
    ];
    let uploads = Condition::Any(vec![
        Condition::Set("alfresco-root-node"),
        Condition::Set("s3-url"),
    ]);
    let alfresco_env = vec![
        secret("ALFRESCO_URL", ALFRESCO_SECRET),
        secret("ALFRESCO_USER", ALFRESCO_SECRET),
        secret("ALFRESCO_PASSWORD", ALFRESCO_SECRET),
        secret("X_API_KEY", ALFRESCO_SECRET),
        setting("ALFRESCO_NODE_ID", "alfresco-root-node"),
    ];
    let mut upload_env = alfresco_env.clone();
    upload_env.extend([
        setting("SOUNDSCAPE_S3_URL", "s3-url"),
        secret("AWS_ACCESS_KEY_ID", S3_SECRET),
        secret("AWS_SECRET_ACCESS_KEY", S3_SECRET),
        secret("AWS_ENDPOINT_URL", S3_SECRET),
        secret("AWS_REGION", S3_SECRET),
        secret("AWS_ALLOW_HTTP", S3_SECRET),
    ]);
    let steps = vec![
        Step {
            name: "get-audio-df",
            binary: "get-audio-df",
            args: vec![
                flag("source", Text::Param("source")),
                flag("out", Text::Param("work-dir")),
            ],
            env: {
                let mut e = vec![
                    go_on_after_partial_failures(),
                    setting("SOUNDSCAPE_LAYOUT", "layout"),
                    setting("SOUNDSCAPE_CUMULUS", "cumulus"),
                    setting("SOUNDSCAPE_LIMIT", "limit"),
                    setting("SOUNDSCAPE_FROM", "from"),
                    setting("SOUNDSCAPE_TO", "to"),
                    setting("SOUNDSCAPE_FANOUT_WIDTH", "fan-out-width"),
                ];
                e.extend(
                    alfresco_env
                        .iter()
                        .filter(|e| e.name != "ALFRESCO_NODE_ID")
                        .cloned(),
                );
                e.extend(
                    upload_env
                        .iter()
                        .filter(|e| e.name.starts_with("AWS_"))
                        .cloned(),
                );
                e
            },
            depends: vec![],
            level: Level::Run,
            when: None,
            resources: Resources {
                cpu: "1",
                memory: "512Mi",
                memory_limit: "2Gi",
            },
            retry: Some(NETWORK),
            output: Some(Output {
                name: "batches",
                path: in_work("/fanout.json"),
            }),
            video: false,
            deadline: deadline(6 * 3600, 0),
            semaphore: None,
        },
        Step {
            name: "dirstruct",
            binary: "dirstruct",
            args: vec![
                flag("units", in_work("/units.json")),
                flag("results-dir", Text::Param("results-dir")),
            ],
            env: vec![go_on_after_partial_failures()],
            depends: vec!["get-audio-df"],
            level: Level::Run,
            when: None,
            resources: SMALL,
            retry: Some(ON_ERROR),
            output: None,
            video: false,
            deadline: deadline(3600, 0),
            semaphore: None,
        },
        Step {
            name: "compute-soundscapes",
            binary: "compute-soundscapes",
            args: vec![flag("unit-dir", unit_dir())],
            env: vec![go_on_after_partial_failures()],
            depends: vec![],
            level: Level::Unit,
            when: None,
            resources: Resources {
                cpu: "2",
                memory: "512Mi",
                memory_limit: "2Gi",
            },
            retry: Some(ON_ERROR),
            output: None,
            video: false,
            deadline: deadline(1800, 60),
            semaphore: None,
        },
        Step {
            name: "compute-embeddings",
            binary: "compute-embeddings",
            args: vec![
                flag("unit-dir", unit_dir()),
                flag("model", Text::Param("model")),
                flag("min-confidence", Text::Param("min-confidence")),
                flag("channels", Text::Param("channels")),
            ],
            env: vec![
                go_on_after_partial_failures(),
                setting("SOUNDSCAPE_MODELS", "models-dir"),
            ],
            depends: vec!["compute-soundscapes"],
            level: Level::Unit,
            when: Some(Condition::Set("model")),
            resources: Resources {
                cpu: "2",
                memory: "1Gi",
                memory_limit: "3Gi",
            },
            retry: Some(ON_ERROR),
            output: None,
            video: false,
            deadline: deadline(1800, 600),
            semaphore: None,
        },
        Step {
            name: "extract-samples",
            binary: "extract-samples",
            args: vec![
                flag(
                    "detections",
                    Text::Join(vec![unit_dir(), Text::lit("/detections.parquet")]),
                ),
                flag("rules", Text::Param("extract-rules")),
                flag(
                    "out",
                    Text::Join(vec![Text::Param("extract-dir"), Text::lit("/"), Text::Unit]),
                ),
            ],
            env: vec![go_on_after_partial_failures()],
            depends: vec!["compute-embeddings"],
            level: Level::Unit,
            when: Some(Condition::All(vec![
                Condition::Set("model"),
                Condition::Set("extract-rules"),
            ])),
            resources: Resources {
                cpu: "1",
                memory: "256Mi",
                memory_limit: "1Gi",
            },
            retry: Some(ON_ERROR),
            output: None,
            video: false,
            deadline: deadline(1800, 120),
            semaphore: None,
        },
        Step {
            name: "spec-n-specvid",
            binary: "spec-n-specvid",
            args: vec![flag("unit-dir", unit_dir())],
            env: vec![go_on_after_partial_failures()],
            depends: vec!["compute-soundscapes"],
            level: Level::Unit,
            when: None,
            resources: Resources {
                cpu: "1",
                memory: "1Gi",
                memory_limit: "3Gi",
            },
            retry: Some(ON_ERROR),
            output: None,
            video: true,
            deadline: deadline(1800, 600),
            semaphore: None,
        },
        Step {
            name: "upload-alfresco",
            binary: "upload-alfresco",
            args: vec![flag("unit-dir", unit_dir())],
            env: upload_env,
            depends: vec!["spec-n-specvid", "compute-embeddings"],
            level: Level::Unit,
            when: Some(uploads),
            resources: Resources {
                cpu: "250m",
                memory: "512Mi",
                memory_limit: "1Gi",
            },
            retry: Some(NETWORK),
            output: None,
            video: false,
            deadline: deadline(1800, 300),
            semaphore: Some(ALFRESCO_UPLOADS),
        },
        Step {
            name: "upload-model",
            binary: "upload-model",
            args: vec![flag("unit-dir", unit_dir())],
            env: alfresco_env,
            depends: vec!["upload-alfresco"],
            level: Level::Unit,
            when: Some(Condition::Set("alfresco-root-node")),
            resources: SMALL,
            retry: Some(NETWORK),
            output: None,
            video: false,
            deadline: deadline(1800, 60),
            semaphore: Some(ALFRESCO_UPLOADS),
        },
        Step {
            name: "collect",
            binary: "soundscape",
            args: vec![
                Text::lit("collect"),
                flag("work-dir", Text::Param("work-dir")),
                flag("results-dir", Text::Param("results-dir")),
                flag("dataset-dir", Text::Param("dataset-dir")),
            ],
            env: vec![go_on_after_partial_failures()],
            depends: vec![],
            level: Level::Final,
            when: None,
            resources: Resources {
                cpu: "1",
                memory: "512Mi",
                memory_limit: "2Gi",
            },
            retry: Some(ON_ERROR),
            output: Some(Output {
                name: "summary",
                path: in_work("/run_summary.brief.json"),
            }),
            video: false,
            deadline: deadline(4 * 3600, 0),
            semaphore: None,
        },
    ];
    Pipeline {
        settings: s.clone(),
        params,
        steps,
        fan_out: FanOut {
            step: "get-audio-df",
            output: "batches",
            plan: in_work("/batches.json"),
            reports: in_work("/batches"),
        },
    }
}
