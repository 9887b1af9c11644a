//! Printing: aligned tables and target checks (the numbers go into the README as they are).

use std::io::Write as _;

/// Writes one line to stdout (the bench's output is its report).
pub(crate) fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not worth failing a bench over.
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// A text table with a header row; columns are padded to their widest cell.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let cols = self.header.len();
        let mut width = vec![0; cols];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(cols) {
                width[i] = width[i].max(cell.chars().count());
            }
        }
        let line = |row: &[String]| {
            let cells: Vec<String> = (0..cols)
                .map(|i| {
                    let cell = row.get(i).map_or("", String::as_str);
                    format!("{cell:<w$}", w = width[i])
                })
                .collect();
            format!("| {} |", cells.join(" | ")).trim_end().to_owned()
        };
        let rule = format!(
            "|{}|",
            width
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        let mut out = vec![line(&self.header), rule];
        out.extend(self.rows.iter().map(|r| line(r)));
        out.join("\n")
    }
}

/// The outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Fail,
    /// A side of the comparison did not run (e.g. no Python interpreter).
    NotRun,
}

impl Verdict {
    pub(crate) fn of(pass: Option<bool>) -> Self {
        match pass {
            Some(true) => Self::Pass,
            Some(false) => Self::Fail,
            None => Self::NotRun,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::NotRun => "n/a (not run)",
        }
    }
}

/// Targets as a table: what, measured, target, verdict.
#[derive(Debug)]
pub(crate) struct Targets {
    table: Table,
    verdicts: Vec<Verdict>,
}

impl Targets {
    pub(crate) fn new() -> Self {
        Self {
            table: Table::new(&["target", "measured", "goal", "result"]),
            verdicts: Vec::new(),
        }
    }

    /// `measured` is `None` when a side did not run.
    pub(crate) fn at_least(&mut self, what: &str, measured: Option<f64>, goal: f64, unit: &str) {
        self.push(
            what,
            measured,
            goal,
            unit,
            ">=",
            measured.map(|m| m >= goal),
        );
    }

    pub(crate) fn at_most(&mut self, what: &str, measured: Option<f64>, goal: f64, unit: &str) {
        self.push(
            what,
            measured,
            goal,
            unit,
            "<=",
            measured.map(|m| m <= goal),
        );
    }

    fn push(
        &mut self,
        what: &str,
        measured: Option<f64>,
        goal: f64,
        unit: &str,
        op: &str,
        pass: Option<bool>,
    ) {
        let verdict = Verdict::of(pass);
        self.verdicts.push(verdict);
        self.table.row(vec![
            what.to_owned(),
            measured.map_or_else(|| "-".to_owned(), |m| format!("{m:.2}{unit}")),
            format!("{op} {goal}{unit}"),
            verdict.label().to_owned(),
        ]);
    }

    pub(crate) fn render(&self) -> String {
        self.table.render()
    }

    /// Whether any target that ran was missed.
    pub(crate) fn any_failed(&self) -> bool {
        self.verdicts.contains(&Verdict::Fail)
    }
}

/// `a / b` when both are known and `b` is positive.
pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// A number with a fixed count of decimals, or `-`.
pub(crate) fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let mut t = Table::new(&["a", "bbb"]);
        t.row(vec!["xxxx".into(), "y".into()]);
        assert_eq!(t.render(), "| a    | bbb |\n|------|-----|\n| xxxx | y   |");
    }

    #[test]
    fn targets_pass_fail_and_not_run() {
        let mut t = Targets::new();
        t.at_least("ratio", Some(1.2), 0.9, "x");
        t.at_most("rss", Some(30.0), 20.0, " MB");
        t.at_least("python", None, 5.0, "x");
        let text = t.render();
        assert!(text.contains("| 1.20x") && text.contains("PASS"), "{text}");
        assert!(
            text.contains("FAIL") && text.contains("n/a (not run)"),
            "{text}"
        );
        assert!(t.any_failed());
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(Some(3.0), Some(1.5)), Some(2.0));
        assert_eq!(num(None, 1), "-");
    }
}
