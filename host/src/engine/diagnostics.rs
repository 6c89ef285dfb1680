//! Errors in a process file, each at a `file:line:col`.

use std::fmt;

/// A byte range in a source file.
pub type Span = std::ops::Range<usize>;

/// One problem in a process file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file's name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl Diagnostic {
    /// Whether this diagnostic mentions `text` (for tests and callers that filter).
    pub fn mentions(&self, text: &str) -> bool {
        self.message.contains(text)
    }
}

/// The problems found in one file, in the order found.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    file: String,
    line_starts: Vec<usize>,
    source_len: usize,
    source: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list for `file` with the text `source`.
    pub fn new(file: &str, source: &str) -> Diagnostics {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Diagnostics {
            file: file.to_owned(),
            line_starts,
            source_len: source.len(),
            source: source.to_owned(),
            items: Vec::new(),
        }
    }

    /// Adds a problem at the start of `span`.
    pub fn push(&mut self, span: Span, message: String) {
        let at = span.start.min(self.source_len);
        let line = self.line_starts.partition_point(|&s| s <= at).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .source
            .get(start..at)
            .map_or(at - start, |s| s.chars().count())
            + 1;
        self.items.push(Diagnostic {
            file: self.file.clone(),
            line,
            col,
            message,
        });
    }

    /// How many problems so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The problems.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = "a = 1\nпривет = \"x\"\n";
        let mut d = Diagnostics::new("f.toml", src);
        d.push(0..1, "first".into());
        let quote = src.rfind('"').unwrap_or(0);
        d.push(quote..quote + 1, "second".into());
        assert_eq!(d.items()[0].to_string(), "f.toml:1:1: first");
        assert_eq!(d.items()[1].line, 2);
        assert_eq!(d.items()[1].col, 12);
    }
}
