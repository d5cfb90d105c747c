//! `gateway`: an OpenAI/Anthropic-compatible LLM proxy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use gateway_example::config::{Config, DEMO};
use gateway_example::Gateway;
use tracing_subscriber::EnvFilter;

// mimalloc: fewer instructions per request than the system allocator (see the
// README's benchmark section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An OpenAI/Anthropic-compatible LLM gateway: bounded, leak-proof, fast.
///
/// With no arguments it serves an embedded demo config on 127.0.0.1:4000, whose models
/// are answered by a built-in mock provider (offline). Routes: POST
/// /v1/chat/completions, /v1/embeddings, /v1/messages, /v1/responses, /v1/completions,
/// /v1/messages/count_tokens (each also without /v1), Azure's
/// /openai/deployments/{model}/…; GET /v1/models,
/// /v1/models/{id}, /health/liveliness, /health/readiness, /metrics.
#[derive(Parser, Debug)]
// `--version`: the crate version and the git commit it was built from (see build.rs).
#[command(
    name = "gateway",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GATEWAY_GIT_COMMIT"), ")")
)]
struct Cli {
    /// YAML config file (LiteLLM `model_list` shape, plus `server`, `pool`, `limits`,
    /// `cache` sections). Values `os.environ/NAME` are read from the environment.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Listen address, overriding `server.listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Validate the config, print the ignored LiteLLM settings and a summary, and exit
    /// (0 valid; 2 invalid, listing every problem).
    #[arg(long)]
    check_config: bool,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal; files and log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_env_filter(filter)
            .init(),
        // Logs go to stderr in either format; stdout is for `--check-config`'s report.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init(),
    }

    let loaded = match &cli.config {
        Some(path) => Config::load(path).map(|c| (c, path.display().to_string())),
        None => Config::parse(DEMO, "<embedded demo config>")
            .map(|c| (c, "<embedded demo config>".to_string())),
    };
    let (mut config, name) = match loaded {
        Ok(loaded) => loaded,
        Err(errors) => {
            let n = errors.errors().len();
            eprintln!(
                "error: invalid config ({n} problem{}):",
                if n == 1 { "" } else { "s" }
            );
            for err in errors.errors() {
                eprintln!("  {err}");
            }
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let ignored = config.ignored_lines();
    if !ignored.is_empty() {
        tracing::warn!(
            "{name}: these LiteLLM settings are accepted and not used by this gateway:\n  {}",
            ignored.join("\n  ")
        );
    }
    if cli.check_config {
        if !ignored.is_empty() {
            println!("ignored (accepted, not used by this gateway):");
            for line in &ignored {
                println!("  {line}");
            }
        }
        println!("{}", config.summary(&name));
        return ExitCode::SUCCESS;
    }

    // This runtime runs what is not per request (signals, the callback dispatcher,
    // the demo's mock provider); requests are served by the worker threads that
    // `Gateway::start` spawns, each with its own event loop.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config, name))
}

/// The version and the commit it was built from, as `--version` prints them.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GATEWAY_GIT_COMMIT"),
    ")"
);

async fn run(config: Config, source: String) -> ExitCode {
    let mut signals = Signals::listen();
    let listen = config.server.listen;
    let listener = match gateway_example::bind(listen) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {listen}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let deployments = config.deployments.len();
    let workers = config.server.workers;
    let mut models: Vec<&str> = config
        .deployments
        .iter()
        .map(|d| d.model_name.as_str())
        .collect();
    models.dedup();
    let models = models.join(",");
    let gateway = match Gateway::start(config, listener).await {
        Ok(gateway) => gateway,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The startup summary; tests and scripts find the address in its message.
    tracing::info!(
        version = VERSION,
        config = %source,
        workers,
        deployments,
        models = %models,
        "gateway listening on http://{}",
        gateway.addr()
    );
    let signal = signals.next_stop().await;
    tracing::info!(signal, "shutdown signal received: draining");
    tokio::select! {
        () = gateway.shutdown() => ExitCode::SUCCESS,
        signal = signals.next_stop() => {
            tracing::warn!(signal, "second shutdown signal: exiting without finishing the drain");
            ExitCode::FAILURE
        }
    }
}

/// The signals the gateway listens to, from [`Signals::listen`] on, for the life of
/// the process: SIGINT, SIGTERM and SIGHUP each stop it gracefully (SIGHUP does not
/// reload the config), a second one of them at once; SIGUSR1 and SIGUSR2, which would
/// kill the process, are logged and ignored.
struct Signals {
    #[cfg(unix)]
    listening: [Option<tokio::signal::unix::Signal>; 5],
}

impl Signals {
    /// Starts listening now (not at the first poll), so that no signal is missed.
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listening = [
                SignalKind::terminate(),
                SignalKind::hangup(),
                SignalKind::interrupt(),
                SignalKind::user_defined1(),
                SignalKind::user_defined2(),
            ]
            .map(|kind| signal(kind).ok());
            Self { listening }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next signal that asks the gateway to stop, by name.
    async fn next_stop(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let [term, hup, int, usr1, usr2] = &mut self.listening;
            loop {
                tokio::select! {
                    () = next(term) => return "SIGTERM",
                    () = next(hup) => return "SIGHUP",
                    () = next(int) => return "SIGINT",
                    () = next(usr1) => tracing::info!("SIGUSR1 ignored"),
                    () = next(usr2) => tracing::info!("SIGUSR2 ignored"),
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// The next delivery of `signal`; never, if it could not be listened to.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(signal) = signal {
        // `None` only if the signal driver is gone: then never again.
        if signal.recv().await.is_some() {
            return;
        }
    }
    std::future::pending().await
}
