//! Plain text tables that fit a width: the widest columns give way first, cut cells end in `…`.

use serde_json::Value;

use crate::style::Style;

const GAP: &str = "  ";
/// A column is never cut below this many characters (or its header, if shorter).
const MIN_COLUMN: usize = 6;
/// Fields shown before the others in [`Table::fields`].
const FIRST: [&str; 3] = ["id", "name", "status"];

/// What a column holds, which decides how its cells are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// Left-aligned text.
    Text,
    /// Right-aligned numbers (amounts, sizes).
    Number,
    /// A state, coloured by what it means.
    Status,
}

/// A table of text cells.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
    status_column: Option<usize>,
    bold_first_column: bool,
}

impl Table {
    pub(crate) fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let right = vec![false; headers.len()];
        Self {
            headers,
            right,
            ..Self::default()
        }
    }

    /// Two columns, FIELD and VALUE, one row per (flattened) field of an object: `id`, `name`
    /// and `status` first, the rest by name.
    pub(crate) fn fields(value: &Value) -> Self {
        let mut rows = Vec::new();
        flatten("", value, &mut rows);
        let rank = |field: &str| {
            FIRST
                .iter()
                .position(|f| *f == field)
                .unwrap_or(FIRST.len())
        };
        rows.sort_by_key(|(field, _)| rank(field));
        let mut table = Table::new(["FIELD", "VALUE"]);
        table.bold_first_column = true;
        for (field, value) in rows {
            table.push([field, value]);
        }
        table
    }

    /// Declares what a column holds: numbers align right, statuses are coloured.
    pub(crate) fn kind(mut self, column: usize, kind: ColumnKind) -> Self {
        match kind {
            ColumnKind::Text => {}
            ColumnKind::Number => {
                if let Some(r) = self.right.get_mut(column) {
                    *r = true;
                }
            }
            ColumnKind::Status => self.status_column = Some(column),
        }
        self
    }

    pub(crate) fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = row.into_iter().map(|c| clean(&c.into())).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// The table as lines, at most `width` characters wide when it can be.
    pub(crate) fn render(&self, width: Option<usize>, style: Style) -> String {
        let widths = self.fit(width);
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_uppercase()).collect();
        self.line(&mut out, &header, &widths, style, true);
        for row in &self.rows {
            self.line(&mut out, row, &widths, style, false);
        }
        out
    }

    fn line(
        &self,
        out: &mut String,
        cells: &[String],
        widths: &[usize],
        style: Style,
        header: bool,
    ) {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
            let text = cut(cell, w);
            let pad = w.saturating_sub(chars(&text));
            let painted = if header {
                style.bold(&text)
            } else if Some(i) == self.status_column {
                style.status(&text)
            } else if i == 0 && self.bold_first_column {
                style.dim(&text)
            } else {
                text
            };
            if self.right[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(&painted);
            } else {
                line.push_str(&painted);
                if i != last {
                    line.push_str(&" ".repeat(pad));
                }
            }
            if i != last {
                line.push_str(GAP);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }

    /// Column widths: natural, then the widest column shrinks one character at a time until
    /// the table fits. Text columns give way first, down to their header; then any column,
    /// headers included, down to a few characters. A table that still does not fit overflows.
    fn fit(&self, width: Option<usize>) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| chars(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(chars(cell));
            }
        }
        let Some(limit) = width else {
            return widths;
        };
        let text_floor: Vec<Option<usize>> = (0..widths.len())
            .map(|i| {
                (!self.right[i]).then(|| widths[i].min(chars(&self.headers[i]).max(MIN_COLUMN)))
            })
            .collect();
        let any_floor: Vec<Option<usize>> =
            widths.iter().map(|&w| Some(w.min(MIN_COLUMN))).collect();
        for floor in [text_floor, any_floor] {
            shrink(&mut widths, &floor, limit);
        }
        widths
    }
}

/// Narrows the widest column above its floor (`None`: never) until the total fits `limit`.
fn shrink(widths: &mut [usize], floor: &[Option<usize>], limit: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + GAP.len() * w.len().saturating_sub(1);
    while total(widths) > limit {
        let widest = (0..widths.len())
            .filter(|&i| floor[i].is_some_and(|f| widths[i] > f))
            .max_by_key(|&i| (widths[i], std::cmp::Reverse(i)));
        match widest {
            Some(i) => widths[i] -= 1,
            None => return,
        }
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `width` characters, the last one `…` when something was cut.
fn cut(s: &str, width: usize) -> String {
    if chars(s) <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let kept: String = s.chars().take(width - 1).collect();
    let mut out = kept.trim_end().to_owned();
    out.push('…');
    out
}

/// One line per cell: control characters would break the layout.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A JSON value as a table cell: strings bare, `-` for nothing, lists of scalars joined.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        Value::Object(map) if map.is_empty() => "-".to_owned(),
        other => other.to_string(),
    }
}

/// `a.b.c` → value rows; lists of objects stay JSON.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, v, out);
            }
        }
        other if prefix.is_empty() => out.push(("value".to_owned(), cell(other))),
        other => out.push((prefix.to_owned(), cell(other))),
    }
}

/// The value at a JSON pointer as a cell (`-` when absent).
pub(crate) fn at(value: &Value, pointer: &str) -> String {
    value.pointer(pointer).map_or_else(|| "-".to_owned(), cell)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Table {
        let mut t = Table::new(["id", "name", "price"]).kind(2, ColumnKind::Number);
        t.push(["a1", "NVIDIA GeForce RTX 4090", "0.69"]);
        t.push(["b22", "A100", "1.19"]);
        t
    }

    #[test]
    fn natural_widths_without_a_limit() {
        let text = sample().render(None, Style::PLAIN);
        assert_eq!(
            text,
            "ID   NAME                     PRICE\n\
             a1   NVIDIA GeForce RTX 4090   0.69\n\
             b22  A100                      1.19\n"
        );
    }

    #[test]
    fn the_widest_column_gives_way_and_cut_cells_say_so() {
        let text = sample().render(Some(25), Style::PLAIN);
        for line in text.lines() {
            assert!(line.chars().count() <= 25, "{line:?}");
        }
        assert!(text.contains("NVIDIA GeFor…"), "{text}");
        assert!(text.contains("b22  A100"), "{text}");
    }

    #[test]
    fn text_columns_give_way_before_numbers_and_headers() {
        let text = sample().render(Some(20), Style::PLAIN);
        assert_eq!(
            text,
            "ID   NAME      PRICE\n\
             a1   NVIDIA…    0.69\n\
             b22  A100       1.19\n"
        );
        // Narrower still: every column down to a few characters, headers cut too.
        let mut t = Table::new(["identifier", "long header"]).kind(1, ColumnKind::Number);
        t.push(["abcdefghijkl", "123456789012"]);
        assert_eq!(
            t.render(Some(14), Style::PLAIN),
            "IDENT…   LONG…\nabcde…  12345…\n"
        );
    }

    #[test]
    fn objects_flatten_into_fields() {
        let t = Table::fields(&json!({
            "id": "p1",
            "gpu": {"id": "RTX", "count": 2},
            "ports": ["22/tcp", "8888/http"],
            "env": {},
            "note": null,
            "list": [{"a": 1}]
        }));
        let text = t.render(None, Style::PLAIN);
        assert_eq!(
            text,
            "FIELD      VALUE\n\
             id         p1\n\
             env        -\n\
             gpu.count  2\n\
             gpu.id     RTX\n\
             list       [{\"a\":1}]\n\
             note       -\n\
             ports      22/tcp, 8888/http\n"
        );
    }

    #[test]
    fn newlines_inside_cells_do_not_break_rows() {
        let mut t = Table::new(["a"]);
        t.push(["x\ny"]);
        assert_eq!(t.render(None, Style::PLAIN), "A\nx y\n");
    }
}
