//! The embedded DejaVu Sans faces (they cover Cyrillic; licence in
//! `fonts/LICENSE`) and text measuring for alignment and wrapping.

use rustybuzz::ttf_parser::Face;

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// The regular and bold faces.
pub struct Fonts {
    regular: Face<'static>,
    bold: Face<'static>,
}

impl Fonts {
    /// Parses the embedded fonts.
    pub fn embedded() -> Result<Fonts, String> {
        let parse = |data: &'static [u8], name: &str| {
            Face::parse(data, 0).map_err(|e| format!("the embedded font {name} is broken: {e}"))
        };
        Ok(Fonts {
            regular: parse(REGULAR, "DejaVuSans")?,
            bold: parse(BOLD, "DejaVuSans-Bold")?,
        })
    }

    /// The bytes of a face, for the PDF writer.
    pub fn data(bold: bool) -> &'static [u8] {
        if bold { BOLD } else { REGULAR }
    }

    /// The width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        let face = if bold { &self.bold } else { &self.regular };
        let units: u32 = text
            .chars()
            .map(|c| {
                face.glyph_index(c)
                    .and_then(|g| face.glyph_hor_advance(g))
                    .map_or(0, u32::from)
            })
            .sum();
        units as f32 * size / f32::from(face.units_per_em())
    }

    /// `text` broken into lines no wider than `width` (at spaces; a word
    /// wider than a line is cut). Explicit newlines are kept.
    pub fn wrap(&self, text: &str, size: f32, bold: bool, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size, bold) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // A single word too wide for the line: cut it.
                let mut piece = String::new();
                for c in word.chars() {
                    piece.push(c);
                    if self.width(&piece, size, bold) > width {
                        piece.pop();
                        lines.push(std::mem::take(&mut piece));
                        piece.push(c);
                    }
                }
                line = piece;
            }
            lines.push(line);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_wraps_cyrillic() {
        let f = Fonts::embedded().unwrap();
        let w = f.width("Счёт", 10.0, false);
        assert!(w > 15.0 && w < 40.0, "{w}");
        assert!(f.width("Счёт", 10.0, true) > w);
        let lines = f.wrap("один два три четыре пять шесть", 10.0, false, 60.0);
        assert!(lines.len() > 1, "{lines:?}");
        for l in &lines {
            assert!(f.width(l, 10.0, false) <= 60.0, "{l}");
        }
        assert_eq!(lines.join(" "), "один два три четыре пять шесть");
    }
}
