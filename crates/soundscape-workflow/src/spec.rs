//! The typed pipeline spec: stages (container steps) with their binary, arguments,
//! environment, credentials, resources, retries and dependencies; workflow parameters; the
//! shared volume; and the fan-out over processing units. The same spec renders to Argo
//! ([`crate::argo`]) and runs on one machine ([`crate::local`]).

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
}

impl Condition {
    pub fn params(&self) -> Vec<&'static str> {
        match self {
            Condition::Set(p) => vec![p],
            Condition::Any(c) => c.iter().flat_map(Condition::params).collect(),
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

/// One stage: a container running one stage binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub binary: &'static str,
    pub args: Vec<Text>,
    pub env: Vec<Env>,
    /// Steps (of the same level: run-wide or per unit) this one waits for.
    pub depends: Vec<&'static str>,
    /// Runs once per processing unit, inside the per-unit DAG.
    pub per_unit: bool,
    pub when: Option<Condition>,
    pub resources: Resources,
    pub retry: Option<Retry>,
    pub output: Option<Output>,
    /// Runs in the image with the FFmpeg libraries ([`Pipeline::video_image`]).
    pub video: bool,
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
    /// Per-unit DAGs running at once.
    pub parallelism: u32,
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
    /// The run-wide step whose output lists the units, and that output's name.
    pub fan_out: (&'static str, &'static str),
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

    /// Run-wide steps, in spec order.
    pub fn run_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| !s.per_unit)
    }

    /// Per-unit steps, in spec order.
    pub fn unit_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.per_unit)
    }
}
