//! Where each field of a policy file stands: the line of every key and array element, taken from
//! the TOML parser's spans, so that an error can name the line of the field it is about.

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Line (1-based) of every dotted field path in a policy file, e.g. `scorecard[3].bins[1]`.
#[derive(Debug, Default)]
pub(super) struct Lines {
    by_path: BTreeMap<String, u32>,
    /// Byte offsets of the newlines, to turn a span's offset into a line by binary search.
    newlines: Vec<usize>,
}

impl Lines {
    /// Indexes every key and array element of the parsed document.
    pub(super) fn index(text: &str, root: &DeTable<'_>) -> Lines {
        let mut lines = Lines {
            by_path: BTreeMap::new(),
            newlines: text
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        };
        lines.table("", root);
        lines
    }

    /// Line of `field`, or of its nearest enclosing field present in the file (a missing key is
    /// reported at its table); 0 when not even the top-level key is there.
    pub(super) fn line(&self, field: &str) -> u32 {
        let mut path = field;
        loop {
            if let Some(line) = self.by_path.get(path) {
                return *line;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return 0,
            }
        }
    }

    /// 1-based line of a byte offset.
    fn line_at(&self, offset: usize) -> u32 {
        let before = self.newlines.partition_point(|&newline| newline < offset);
        u32::try_from(before + 1).unwrap_or(u32::MAX)
    }

    fn table(&mut self, prefix: &str, table: &DeTable<'_>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            let line = self.line_at(key.span().start);
            self.by_path.insert(path.clone(), line);
            self.value(&path, value);
        }
    }

    fn value(&mut self, path: &str, value: &Spanned<DeValue<'_>>) {
        match value.get_ref() {
            DeValue::Table(table) => self.table(path, table),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{path}[{i}]");
                    let line = self.line_at(item.span().start);
                    self.by_path.insert(path.clone(), line);
                    self.value(&path, item);
                }
            }
            _ => {}
        }
    }
}

/// 1-based line of a byte offset.
pub(super) fn line_of_offset(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    let newlines = text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a = 1\n\n[t]\nx = [\n  { y = 1 },\n  { y = 2 },\n]\n\n[[arr]]\nk = 1\n\n[[arr]]\nk = 2\n";

    /// Checks the line the index gives each field.
    fn assert_lines(expected: &[(&str, u32)]) {
        let root = DeTable::parse(TEXT).expect("valid toml");
        let lines = Lines::index(TEXT, root.get_ref());
        for (field, line) in expected {
            assert_eq!(lines.line(field), *line, "{field}");
        }
    }

    #[test]
    fn keys_elements_and_tables_of_arrays_have_their_own_line() {
        assert_lines(&[
            ("a", 1),
            ("t", 3),
            ("t.x", 4),
            ("t.x[1]", 6),
            ("t.x[1].y", 6),
            ("arr[0]", 9),
            ("arr[1]", 12),
            ("arr[1].k", 13),
        ]);
    }

    #[test]
    fn a_missing_field_falls_back_to_its_nearest_ancestor() {
        assert_lines(&[
            ("t.x[7]", 4),
            ("arr[1].missing", 12),
            ("t.nothing.deeper", 3),
            ("absent", 0),
            ("absent.key", 0),
        ]);
    }
}
