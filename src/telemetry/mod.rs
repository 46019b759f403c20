//! Telemetry: logging setup. Logs are structured (`tracing`); text by default,
//! JSON with `--log-format json` or `[log] format = "json"` (use it under systemd).
//!
//! Field values often come from outside (file names, SFTP user names, errors
//! quoting input), so text logs escape every control character: a name with a
//! newline cannot forge a log line and one with an escape sequence cannot
//! drive the operator's terminal. JSON logs are escaped by the encoder.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber. `RUST_LOG` overrides `level`. Logs go to stderr
/// so that `process --json` keeps stdout for results.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = match format {
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| EscapingWriter(io::stderr()))
            .try_init(),
    };
}

/// Writes each formatted event with its control characters escaped, except
/// the newline that ends it. The fmt layer hands over one whole event per
/// `write_all`, so line boundaries are known.
struct EscapingWriter<W: Write>(W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(escape_controls(buf).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `buf` as text with control characters escaped (`\n`, `\u{1b}`), keeping
/// one trailing newline.
fn escape_controls(buf: &[u8]) -> String {
    let text = String::from_utf8_lossy(buf);
    let (body, newline) = match text.strip_suffix('\n') {
        Some(b) => (b, true),
        None => (&*text, false),
    };
    let mut out = String::with_capacity(text.len() + 8);
    for c in body.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if newline {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_but_the_line_end_is_kept() {
        assert_eq!(
            escape_controls(b"file=factura\nFAKE level=ERROR \x1b[31mred\n"),
            "file=factura\\nFAKE level=ERROR \\u{1b}[31mred\n"
        );
        assert_eq!(escape_controls("añö \u{85}".as_bytes()), "añö \\u{85}");
        assert_eq!(escape_controls(b"plain"), "plain");
    }
}
