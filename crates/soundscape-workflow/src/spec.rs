//! The typed pipeline spec: stages (container steps) with their binary, arguments,
//! environment, credentials, resources, retries, deadlines and dependencies; workflow
//! parameters; the shared volume; the fan-out over batches of processing units; and the
//! cluster housekeeping (pod GC, TTL, scheduling). The same spec renders to Argo
//! ([`crate::argo`]) and runs on one machine ([`crate::local`]).

use std::collections::BTreeMap;

/// A piece of text that differs between the renderings: a literal, a workflow parameter, or
/// the processing unit of a fanned-out step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Lit(String),
    /// A workflow parameter, by name.
    Param(&'static str),
    /// The unit id (`<cumulus>/<node>/<recorder>/<deployment>`) of a per-unit step.
    Unit,
    /// The pieces one after the other.
    Join(Vec<Text>),
}

impl Text {
    pub fn lit(s: &str) -> Text {
        Text::Lit(s.into())
    }

    /// The workflow parameters this text uses.
    pub fn params(&self) -> Vec<&'static str> {
        match self {
            Text::Param(p) => vec![p],
            Text::Join(parts) => parts.iter().flat_map(Text::params).collect(),
            _ => vec![],
        }
    }

    pub fn uses_unit(&self) -> bool {
        match self {
            Text::Unit => true,
            Text::Join(parts) => parts.iter().any(Text::uses_unit),
            _ => false,
        }
    }
}

/// `--flag=<text>`.
pub fn flag(name: &str, value: Text) -> Text {
    Text::Join(vec![Text::Lit(format!("--{name}=")), value])
}

/// A condition on workflow parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The parameter is not empty.
    Set(&'static str),
    Any(Vec<Condition>),
    All(Vec<Condition>),
}

impl Condition {
    pub fn params(&self) -> Vec<&'static str> {
        match self {
            Condition::Set(p) => vec![p],
            Condition::Any(c) | Condition::All(c) => c.iter().flat_map(Condition::params).collect(),
        }
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Text(Text),
    /// A key of a Kubernetes Secret (optional: a run without uploads needs none). On one
    /// machine the variable is taken from the caller's environment.
    Secret {
        secret: &'static str,
        key: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub name: &'static str,
    pub value: EnvValue,
}

/// Requests and limits of a stage's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu: &'static str,
    pub memory: &'static str,
    pub memory_limit: &'static str,
}

/// When and how Argo retries a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub limit: u32,
    /// First wait (`30s`), doubled each time up to `max_duration` in all.
    pub backoff: &'static str,
    pub max_duration: &'static str,
    /// Argo expression over `lastRetry`; `None` retries on pod errors only.
    pub expression: Option<&'static str>,
}

/// An output parameter read from a file the stage writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub name: &'static str,
    pub path: Text,
}

/// Where a step runs in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Once for the run, before the fan-out.
    Run,
    /// For every unit (on Argo: for every batch of units, a unit at a time).
    Unit,
    /// Once for the run, after every unit, however the units ended.
    Final,
}

/// How long a step's pod may run: `floor_s` plus `per_hour_s` for every audio hour of its batch
/// (rounded up). Run-wide steps use the floor alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub floor_s: u64,
    pub per_hour_s: u64,
}

/// One stage: a container running one stage binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub binary: &'static str,
    pub args: Vec<Text>,
    pub env: Vec<Env>,
    /// Steps of the same level this one waits for.
    pub depends: Vec<&'static str>,
    pub level: Level,
    pub when: Option<Condition>,
    pub resources: Resources,
    pub retry: Option<Retry>,
    pub output: Option<Output>,
    /// Runs in the image with the FFmpeg libraries ([`Settings::video_image`]).
    pub video: bool,
    pub deadline: Deadline,
    /// Key of the limits ConfigMap ([`Settings::limits`]) whose count bounds how many pods of
    /// this step run at once (an Argo semaphore).
    pub semaphore: Option<&'static str>,
}

impl Step {
    pub fn per_unit(&self) -> bool {
        self.level == Level::Unit
    }
}

/// A workflow parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub default: String,
    pub description: &'static str,
}

/// Settings of the rendered pipeline that are not workflow parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Name of the WorkflowTemplate; Workflows get `<name>-` plus a random suffix.
    pub name: String,
    pub namespace: String,
    /// Image of the stage binaries (without FFmpeg).
    pub image: String,
    /// Image with the FFmpeg runtime libraries, for the stages that make videos.
    pub video_image: String,
    pub service_account: String,
    /// PersistentVolumeClaim of the shared volume and where it is mounted.
    pub claim: String,
    pub mount: String,
    /// Batch DAGs running at once.
    pub parallelism: u32,
    /// ConfigMap holding the semaphore counts of the steps that name one.
    pub limits: String,
    /// Seconds a finished Workflow is kept after it succeeded, and after it failed.
    pub ttl_after_success_s: u32,
    pub ttl_after_failure_s: u32,
    /// Labels the pods' nodes must carry.
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    pub tolerations: Vec<Toleration>,
    /// PriorityClass of the pods.
    pub priority_class: Option<String>,
    /// When the CronWorkflow runs the pipeline over the stream chunks of the day before
    /// (cron format), and in which time zone.
    pub schedule: String,
    pub timezone: String,
    /// The folder capture-stream writes its chunks into (deploy/capture-stream.yaml).
    pub streams_dir: String,
}

/// A Kubernetes toleration: `key[=value]:effect` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    /// `None`: the taint may have any value (operator `Exists`).
    pub value: Option<String>,
    /// NoSchedule, PreferNoSchedule or NoExecute; `None`: every effect.
    pub effect: Option<String>,
}

impl std::str::FromStr for Toleration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kv, effect) = match s.rsplit_once(':') {
            Some((kv, e)) => (kv, Some(e)),
            None => (s, None),
        };
        if let Some(e) = effect {
            if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&e) {
                return Err(format!(
                    "{s:?}: the effect is NoSchedule, PreferNoSchedule or NoExecute"
                ));
            }
        }
        let (key, value) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (kv, None),
        };
        if key.is_empty() {
            return Err(format!("{s:?} is not key[=value][:effect]"));
        }
        Ok(Toleration {
            key: key.into(),
            value,
            effect: effect.map(str::to_string),
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: "soundscape".into(),
            namespace: "soundscape".into(),
            image: format!("soundscape:{}", env!("CARGO_PKG_VERSION")),
            video_image: format!("soundscape-video:{}", env!("CARGO_PKG_VERSION")),
            service_account: "soundscape-workflow".into(),
            claim: "soundscape-shared".into(),
            mount: "/shared_volume".into(),
            parallelism: 8,
            limits: "soundscape-limits".into(),
            ttl_after_success_s: 7 * 24 * 3600,
            ttl_after_failure_s: 30 * 24 * 3600,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            priority_class: None,
            schedule: "30 0 * * *".into(),
            timezone: "UTC".into(),
            streams_dir: "/shared_volume/streams".into(),
        }
    }
}

/// The whole pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Names, images, volume and limits of the rendered workflow.
    pub settings: Settings,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    pub fan_out: FanOut,
}

/// The fan-out: the run-wide step whose output parameter lists the batches (`fanout.json`),
/// and the batch plan beside it that names each batch's units (`batches.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOut {
    pub step: &'static str,
    pub output: &'static str,
    pub plan: Text,
    /// Where the batch runner writes a report per step and batch.
    pub reports: Text,
}

impl Pipeline {
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Checks that every name of `set` (NAME=VALUE pairs) is a workflow parameter.
    pub fn check_params(&self, set: &[(String, String)]) -> Result<(), String> {
        match set.iter().find(|(k, _)| self.param(k).is_none()) {
            None => Ok(()),
            Some((k, _)) => {
                let names: Vec<&str> = self.params.iter().map(|q| q.name).collect();
                Err(format!(
                    "unknown parameter {k:?}; one of {}",
                    names.join(", ")
                ))
            }
        }
    }

    /// The steps of one level, in spec order.
    pub fn steps_of(&self, level: Level) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.level == level)
    }

    /// Run-wide steps before the fan-out, in spec order.
    pub fn run_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps_of(Level::Run)
    }

    /// Per-unit steps, in spec order.
    pub fn unit_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps_of(Level::Unit)
    }
}
