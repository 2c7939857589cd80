//! What every stage binary shares: structured logging (human text on a terminal, JSON in pods
//! or on request), progress bars that appear only on interactive local runs, and the rayon
//! thread pool size; [`memory`] sets the C allocator up for phases of large buffers.

use std::io::IsTerminal;

pub mod memory;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON inside Kubernetes pods (KUBERNETES_SERVICE_HOST set), text otherwise.
    Auto,
    Text,
    Json,
}

/// Options shared by every stage binary (given anywhere on the line, also after a
/// subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Worker threads (default: all cores).
    #[arg(long, env = "SOUNDSCAPE_THREADS", global = true)]
    pub threads: Option<usize>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, env = "SOUNDSCAPE_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,
    /// Hide the progress bar.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Exit code when the run finished but some items failed (named in the report). A
    /// workflow sets 0 so that the unit's later stages still run on what succeeded.
    #[arg(
        long,
        default_value_t = PARTIAL_EXIT_CODE,
        env = "SOUNDSCAPE_PARTIAL_EXIT_CODE",
        global = true
    )]
    pub partial_exit_code: u8,
}

/// Prefixes of the environment variables the stages read settings from (their own, Alfresco's,
/// and object_store's cloud credentials, which a Secret template may leave empty).
pub const ENV_PREFIXES: [&str; 6] = [
    "SOUNDSCAPE_",
    "ALFRESCO_",
    "X_API_KEY",
    "AWS_",
    "GOOGLE_",
    "AZURE_",
];

/// Parses the command line. Settings that a workflow passes as environment variables are
/// dropped first when empty, so that an unset workflow parameter means "not given" rather
/// than an empty value.
pub fn parse<T: clap::Parser>() -> T {
    let empty: Vec<_> = std::env::vars_os()
        .filter(|(k, v)| {
            v.is_empty()
                && k.to_str()
                    .is_some_and(|k| ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
        })
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        // Still single-threaded: nothing else reads the environment yet.
        std::env::remove_var(k);
    }
    T::parse()
}

/// Exit code of a run in which some items failed.
pub const PARTIAL_EXIT_CODE: u8 = 3;

impl CommonArgs {
    /// Sets up logging and the global thread pool.
    pub fn init(&self) {
        let _ = memory::tune_allocator();
        init_logging(self.log_format);
        if let Some(n) = self.threads {
            if let Err(e) = rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build_global()
            {
                tracing::warn!(error = %e, "thread pool already initialised");
            }
        }
    }

    /// The `main` of a stage binary: sets up logging and threads, runs `run`, and turns an
    /// error into a logged and printed message with exit code 1. `run` returns the exit code.
    pub fn main(
        &self,
        stage: &str,
        run: impl FnOnce() -> anyhow::Result<u8>,
    ) -> std::process::ExitCode {
        self.init();
        // Items are isolated where the stages loop over them; this is the last net, so that a
        // bug outside any item ends the run with exit code 1 and a message, never an abort.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|payload| {
                let message = soundscape_core::isolate::panic_message(payload.as_ref());
                Err(anyhow::anyhow!(
                    "internal error: {message} (a bug: please report it)"
                ))
            });
        match outcome {
            Ok(PARTIAL_EXIT_CODE) => std::process::ExitCode::from(self.partial_exit_code),
            Ok(code) => std::process::ExitCode::from(code),
            Err(e) => {
                tracing::error!("{e:#}");
                eprintln!("{stage}: {e:#}");
                std::process::ExitCode::from(1)
            }
        }
    }

    /// A progress bar of `len` steps, drawn only on an interactive terminal.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        let interactive = std::io::stderr().is_terminal() && !self.no_progress;
        let json = matches!(resolve(self.log_format), LogFormat::Json);
        if !interactive || json {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {what} ({{eta}} left) {{msg}}"
            ))
            .expect("valid template"),
        );
        bar
    }
}

fn resolve(f: LogFormat) -> LogFormat {
    match f {
        LogFormat::Auto if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => LogFormat::Json,
        LogFormat::Auto => LogFormat::Text,
        other => other,
    }
}

/// Structured logs on stderr; the level comes from `RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,symphonia=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match resolve(format) {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        _ => builder.with_target(false).try_init(),
    };
}
