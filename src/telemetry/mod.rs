//! Telemetry: logging setup.
