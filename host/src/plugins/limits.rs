//! Per-call limits, with defaults an admin can override per plugin.

use std::time::Duration;

/// The limits one call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole call, host calls included.
    pub deadline: Duration,
    /// The most linear memory the action may have, in bytes.
    pub memory_bytes: usize,
    /// The largest input accepted, in bytes.
    pub input_bytes: usize,
    /// The largest output accepted, in bytes.
    pub output_bytes: usize,
    /// How much stdout, stderr and log text is kept, in bytes.
    pub log_bytes: usize,
    /// The largest HTTP response body accepted, in bytes.
    pub http_body_bytes: usize,
    /// The most data one host call may carry from the action to the host
    /// (a note, an entity's fields, a file, a mail), in bytes. Wasmtime
    /// refuses to copy more (its hostcall fuel), before the host function runs.
    pub host_call_bytes: usize,
    /// The most changes (creates, updates, notes, links, files, mails,
    /// notifications) one call may buffer for its commit.
    pub changes: usize,
    /// The most host memory one call's buffered changes may take, in bytes
    /// (what the action sent, plus the host's copy of each record it wrote).
    pub change_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            input_bytes: 1 << 20,
            output_bytes: 1 << 20,
            log_bytes: 64 << 10,
            http_body_bytes: 8 << 20,
            // A 10 MiB file (the largest an entity stores) fits with room.
            host_call_bytes: 16 << 20,
            changes: 10_000,
            change_bytes: 64 << 20,
        }
    }
}

/// Parses a size such as `64MiB`, `512KiB`, `1048576` or `2GiB`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 64MiB"))?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}`: use B, KiB, MiB or GiB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a duration such as `5s`, `250ms`, `2m`, `4h` or `3d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 5s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        "d" => Ok(Duration::from_secs(n.saturating_mul(86_400))),
        other => Err(format!(
            "unknown duration unit `{other}` in `{text}`: use ms, s, m, h or d"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(
            parse_size("64XB")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert!(parse_duration("five").is_err());
        assert!(
            parse_duration("3w")
                .unwrap_err()
                .contains("unknown duration unit")
        );
    }
}
