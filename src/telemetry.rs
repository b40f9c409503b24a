//! Logs, and optional OpenTelemetry trace export configured by the standard
//! `OTEL_*` variables.
//!
//! Export is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and neither `OTEL_SDK_DISABLED=true`
//! nor `OTEL_TRACES_EXPORTER=none` says otherwise). Protocol
//! (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the default, or `http/json`),
//! headers, timeout, sampler (`OTEL_TRACES_SAMPLER`), batching (`OTEL_BSP_*`)
//! and `OTEL_SERVICE_NAME` are read by the OpenTelemetry SDK as specified.
//!
//! Spans: one per request (`request`), and below it one per database call
//! (`db.<operation>`) and per storage call (`storage.<operation>`). The database
//! and storage spans are at DEBUG level: when export is off, the log filter
//! (INFO unless `RUST_LOG` says otherwise) disables them at their call site, so
//! they cost the hot path a level comparison.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::LogFormat;

/// The trace pipeline while it runs; [`Telemetry::shutdown`] flushes it.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is still buffered (at most a few seconds), then stops.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "trace export did not finish");
        }
    }
}

/// Whether the `OTEL_*` variables ask for trace export.
fn export_wanted() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let is = |k: &str, v: &str| std::env::var(k).is_ok_and(|x| x.trim().eq_ignore_ascii_case(v));
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

fn exporter() -> anyhow::Result<opentelemetry_otlp::SpanExporter> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    let protocol = match protocol.trim() {
        "" | "http/protobuf" => Protocol::HttpBinary,
        "http/json" => Protocol::HttpJson,
        other => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: use http/protobuf or http/json"
        ),
    };
    Ok(opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()?)
}

/// Installs the log output and, when asked for, the trace export.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only on a terminal: a file, a pipe or journald gets plain text.
    let fmt = tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal());
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![match format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    }];
    let provider = if export_wanted() {
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter()?)
            .build();
        let tracer = provider.tracer("signet");
        let layer = tracing_opentelemetry::layer::<Registry>()
            .with_tracer(tracer)
            .with_filter(
                Targets::new()
                    .with_target("signet", tracing::Level::DEBUG)
                    .with_default(tracing::Level::INFO),
            );
        layers.push(layer.boxed());
        Some(provider)
    } else {
        None
    };
    tracing_subscriber::registry().with(layers).try_init()?;
    if provider.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}
