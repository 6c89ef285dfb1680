//! Lays the form out on A4 pages as plain drawing operations (text at a
//! point, straight lines), so the layout is testable without a PDF reader;
//! `pdf` turns the operations into the file.

use crate::fonts::Fonts;
use crate::model::{InvoiceDoc, money, quantity};

/// Page size (A4, points) and margins.
pub const PAGE_W: f32 = 595.0;
/// Page height.
pub const PAGE_H: f32 = 842.0;
const LEFT: f32 = 40.0;
const RIGHT: f32 = PAGE_W - 40.0;
const BOTTOM: f32 = PAGE_H - 50.0;
const WIDTH: f32 = RIGHT - LEFT;

/// One drawing operation. `y` is the text's baseline, from the page's top.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Text at a point.
    Text {
        /// Left edge.
        x: f32,
        /// Baseline.
        y: f32,
        /// Font size in points.
        size: f32,
        /// The bold face.
        bold: bool,
        /// The text.
        text: String,
    },
    /// A straight line.
    Line {
        /// Start x.
        x1: f32,
        /// Start y.
        y1: f32,
        /// End x.
        x2: f32,
        /// End y.
        y2: f32,
        /// Stroke width.
        width: f32,
    },
}

/// The pages, each a list of operations.
pub struct Layout<'f> {
    fonts: &'f Fonts,
    /// Finished pages and the current one, last.
    pub pages: Vec<Vec<Op>>,
    y: f32,
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

impl<'f> Layout<'f> {
    fn new(fonts: &'f Fonts) -> Layout<'f> {
        Layout {
            fonts,
            pages: vec![Vec::new()],
            y: 40.0,
        }
    }

    fn op(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        if !text.is_empty() {
            self.op(Op::Text {
                x,
                y,
                size,
                bold,
                text: text.to_owned(),
            });
        }
    }

    /// Text aligned inside the box [x, x + w]; `style` is (size, bold).
    fn text_in(&mut self, x: f32, w: f32, y: f32, style: (f32, bool), text: &str, a: Align) {
        let (size, bold) = style;
        let tw = self.fonts.width(text, size, bold);
        let x = match a {
            Align::Left => x + 3.0,
            Align::Center => x + (w - tw) / 2.0,
            Align::Right => x + w - 3.0 - tw,
        };
        self.text(x, y, size, bold, text);
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        self.op(Op::Line {
            x1,
            y1,
            x2,
            y2,
            width,
        });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.line(x, y, x + w, y, 0.5);
        self.line(x, y + h, x + w, y + h, 0.5);
        self.line(x, y, x, y + h, 0.5);
        self.line(x + w, y, x + w, y + h, 0.5);
    }

    /// Starts a new page if `needed` points do not fit on this one.
    fn room(&mut self, needed: f32) -> bool {
        if self.y + needed > BOTTOM {
            self.pages.push(Vec::new());
            self.y = 40.0;
            true
        } else {
            false
        }
    }

    /// A paragraph wrapped to `w`, advancing `y`.
    fn paragraph(&mut self, x: f32, w: f32, size: f32, bold: bool, text: &str) {
        for line in self.fonts.wrap(text, size, bold, w) {
            self.room(size * 1.3);
            self.y += size * 1.3;
            let y = self.y;
            self.text(x, y, size, bold, &line);
        }
    }

    /// The seller's bank block: the payment order's upper part.
    fn bank_block(&mut self, doc: &InvoiceDoc) {
        let s = &doc.seller;
        let (c1, c2) = (LEFT + 290.0, LEFT + 340.0);
        let top = self.y;
        let row = 16.0;
        // Bank (two rows), then INN/KPP, then the recipient (two rows).
        let bank_lines = self.fonts.wrap(&s.bank_name, 9.0, false, 284.0);
        for (i, l) in bank_lines.iter().take(2).enumerate() {
            self.text(LEFT + 3.0, top + 12.0 + i as f32 * 11.0, 9.0, false, l);
        }
        self.text(
            LEFT + 3.0,
            top + 2.0 * row + 12.0 - 14.0,
            7.0,
            false,
            "Банк получателя",
        );
        self.text_in(c1, 50.0, top + 12.0, (9.0, false), "БИК", Align::Left);
        self.text_in(
            c2,
            RIGHT - c2,
            top + 12.0,
            (9.0, false),
            &s.bik,
            Align::Left,
        );
        self.text_in(
            c1,
            50.0,
            top + row + 12.0,
            (9.0, false),
            "Сч. №",
            Align::Left,
        );
        self.text_in(
            c2,
            RIGHT - c2,
            top + row + 12.0,
            (9.0, false),
            &s.correspondent_account,
            Align::Left,
        );
        let r3 = top + 2.0 * row;
        self.text(LEFT + 3.0, r3 + 12.0, 9.0, false, &format!("ИНН {}", s.inn));
        if !s.kpp.is_empty() {
            self.text(
                LEFT + 148.0,
                r3 + 12.0,
                9.0,
                false,
                &format!("КПП {}", s.kpp),
            );
        }
        self.text_in(c1, 50.0, r3 + 12.0, (9.0, false), "Сч. №", Align::Left);
        self.text_in(
            c2,
            RIGHT - c2,
            r3 + 12.0,
            (9.0, false),
            &s.settlement_account,
            Align::Left,
        );
        let r4 = r3 + row;
        let name_lines = self.fonts.wrap(&s.name, 9.0, false, 284.0);
        for (i, l) in name_lines.iter().take(2).enumerate() {
            self.text(LEFT + 3.0, r4 + 12.0 + i as f32 * 11.0, 9.0, false, l);
        }
        self.text(LEFT + 3.0, r4 + 2.0 * row - 4.0, 7.0, false, "Получатель");
        let bottom = r4 + 2.0 * row;
        self.rect(LEFT, top, WIDTH, bottom - top);
        self.line(c1, top, c1, bottom, 0.5);
        self.line(c2, top, c2, r4, 0.5);
        self.line(c1, top + row, c2, top + row, 0.5);
        self.line(LEFT, r3, RIGHT, r3, 0.5);
        self.line(LEFT, r4, c1, r4, 0.5);
        self.line(LEFT + 145.0, r3, LEFT + 145.0, r4, 0.5);
        self.y = bottom;
    }

    fn party(&mut self, label: &str, description: &str) {
        self.y += 6.0;
        let start = self.y;
        let label_lines: Vec<&str> = label.lines().collect();
        for (i, l) in label_lines.iter().enumerate() {
            self.text(LEFT, start + 11.5 * (i + 1) as f32, 9.0, false, l);
        }
        let x = LEFT + 120.0;
        for line in self.fonts.wrap(description, 9.0, true, RIGHT - x) {
            self.y += 11.5;
            let y = self.y;
            self.text(x, y, 9.0, true, &line);
        }
        self.y = self.y.max(start + 11.5 * label_lines.len() as f32);
    }

    fn items_header(&mut self, cols: &[(f32, &str)]) {
        let top = self.y;
        let h = 16.0;
        let mut x = LEFT;
        for (w, title) in cols {
            self.text_in(x, *w, top + 11.0, (8.5, true), title, Align::Center);
            self.rect(x, top, *w, h);
            x += w;
        }
        self.y += h;
    }

    fn items(&mut self, doc: &InvoiceDoc) {
        let cols: [(f32, &str); 6] = [
            (25.0, "№"),
            (
                WIDTH - 25.0 - 55.0 - 35.0 - 85.0 - 90.0,
                "Товары (работы, услуги)",
            ),
            (55.0, "Кол-во"),
            (35.0, "Ед."),
            (85.0, "Цена"),
            (90.0, "Сумма"),
        ];
        self.items_header(&cols);
        for (i, line) in doc.lines.iter().enumerate() {
            let name_lines = self.fonts.wrap(&line.name, 8.5, false, cols[1].0 - 6.0);
            let h = 5.0 + 11.0 * name_lines.len().max(1) as f32;
            if self.room(h) {
                self.items_header(&cols);
            }
            let top = self.y;
            let base = top + 11.0;
            let cells = [
                ((i + 1).to_string(), Align::Center),
                (String::new(), Align::Left),
                (quantity(line.quantity), Align::Right),
                (line.unit.clone(), Align::Left),
                (money(line.price), Align::Right),
                (money(line.amount), Align::Right),
            ];
            let mut x = LEFT;
            for ((w, _), (text, align)) in cols.iter().zip(cells) {
                self.text_in(x, *w, base, (8.5, false), &text, align);
                self.rect(x, top, *w, h);
                x += w;
            }
            for (k, l) in name_lines.iter().enumerate() {
                self.text(
                    LEFT + cols[0].0 + 3.0,
                    base + k as f32 * 11.0,
                    8.5,
                    false,
                    l,
                );
            }
            self.y += h;
        }
    }

    fn totals(&mut self, doc: &InvoiceDoc) {
        let mut rows = vec![("Итого:".to_owned(), money(doc.total))];
        rows.extend(doc.vat_lines.iter().cloned());
        rows.push(("Всего к оплате:".to_owned(), money(doc.total)));
        self.room(14.0 * rows.len() as f32 + 8.0);
        self.y += 4.0;
        for (label, value) in rows {
            self.y += 13.0;
            let y = self.y;
            self.text_in(LEFT, WIDTH - 90.0, y, (9.0, true), &label, Align::Right);
            self.text_in(RIGHT - 90.0, 90.0, y, (9.0, true), &value, Align::Right);
        }
    }

    fn signatures(&mut self, doc: &InvoiceDoc) {
        self.room(40.0);
        self.y += 30.0;
        let y = self.y;
        self.line(LEFT, y - 20.0, RIGHT, y - 20.0, 1.5);
        let half = WIDTH / 2.0;
        for (i, (role, name)) in [
            ("Руководитель", &doc.seller.director),
            ("Бухгалтер", &doc.seller.accountant),
        ]
        .into_iter()
        .enumerate()
        {
            let x = LEFT + i as f32 * half;
            self.text(x, y, 9.0, true, role);
            self.line(x + 80.0, y + 2.0, x + half - 15.0, y + 2.0, 0.5);
            if !name.is_empty() {
                self.text_in(x + 80.0, half - 95.0, y, (9.0, false), name, Align::Right);
            }
        }
    }
}

/// Lays out the whole form.
pub fn layout(doc: &InvoiceDoc, fonts: &Fonts) -> Vec<Vec<Op>> {
    let mut l = Layout::new(fonts);
    l.bank_block(doc);
    l.y += 30.0;
    let y = l.y;
    l.text(LEFT, y, 14.0, true, &doc.title());
    l.y += 8.0;
    let y = l.y;
    l.line(LEFT, y, RIGHT, y, 1.5);
    l.y += 4.0;
    l.party("Поставщик\n(Исполнитель):", &doc.seller.description());
    l.party("Покупатель\n(Заказчик):", &doc.buyer.description());
    l.y += 12.0;
    l.items(doc);
    l.totals(doc);
    l.y += 8.0;
    l.paragraph(LEFT, WIDTH, 9.0, false, &doc.summary());
    l.paragraph(LEFT, WIDTH, 9.0, true, &doc.total_in_words());
    l.y += 6.0;
    l.paragraph(LEFT, WIDTH, 9.0, false, &doc.due_line());
    l.signatures(doc);
    l.pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InvoiceDoc;
    use serde_json::json;

    fn doc(lines: usize) -> InvoiceDoc {
        let items: Vec<_> = (0..lines)
            .map(|i| json!({ "name": format!("Позиция {i} с длинным названием, которое не помещается в одну строку таблицы товаров"), "quantity": "1", "price": "100", "vat_rate": "20" }))
            .collect();
        InvoiceDoc::from_record(&json!({
            "number": "2026-00001", "issue_date": "2026-11-22", "due_date": "2026-11-27",
            "currency": "RUB",
            "seller": { "name": "ООО \"Робота\"", "inn": "7707083893", "bank_name": "ПАО Сбербанк", "bik": "044525225" },
            "buyer": { "name": "ООО \"Ромашка\"", "inn": "7736207543" },
            "items": items,
        }))
        .unwrap()
    }

    fn texts(pages: &[Vec<Op>]) -> Vec<String> {
        pages
            .iter()
            .flatten()
            .filter_map(|op| match op {
                Op::Text { text, .. } => Some(text.clone()),
                Op::Line { .. } => None,
            })
            .collect()
    }

    #[test]
    fn the_form_carries_its_title_parties_and_total_in_words() {
        let fonts = Fonts::embedded().unwrap();
        let pages = layout(&doc(2), &fonts);
        assert_eq!(pages.len(), 1);
        let t = texts(&pages).join("\n");
        assert!(
            t.contains("Счёт на оплату № 2026-00001 от 22 ноября 2026 г."),
            "{t}"
        );
        assert!(t.contains("ИНН 7707083893"), "{t}");
        assert!(t.contains("ИНН 7736207543"), "{t}");
        assert!(t.contains("Двести рублей 00 копеек"), "{t}");
        assert!(t.contains("В том числе НДС 20%:"), "{t}");
        assert!(t.contains("Оплатить не позднее 27.11.2026"), "{t}");
    }

    #[test]
    fn long_tables_continue_on_new_pages_within_the_margins() {
        let fonts = Fonts::embedded().unwrap();
        let pages = layout(&doc(80), &fonts);
        assert!(pages.len() >= 3, "{} pages", pages.len());
        for op in pages.iter().flatten() {
            if let Op::Text {
                x,
                y,
                size,
                bold,
                text,
            } = op
            {
                assert!(*y <= PAGE_H - 40.0 && *y > 0.0, "{text} at y {y}");
                let right = x + fonts.width(text, *size, *bold);
                assert!(
                    *x >= LEFT - 0.1 && right <= RIGHT + 0.1,
                    "{text} from {x} to {right}"
                );
            }
        }
        // Every line of the table is there, the last on the last page.
        let t = texts(&pages);
        assert!(t.iter().any(|s| s == "80"));
    }
}
