//! Ordered first-hit bins over a number or a category. Numeric bins are written by their upper
//! bound only, so a validated bin list always covers the whole line with no gaps or overlaps.

/// Upper bound of a numeric bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// value < x
    Below(f64),
    /// value <= x
    AtMost(f64),
    /// everything above the previous bin
    Unbounded,
}

impl Bound {
    pub fn contains(self, value: f64) -> bool {
        match self {
            Bound::Below(x) => value < x,
            Bound::AtMost(x) => value <= x,
            Bound::Unbounded => true,
        }
    }

    fn edge(self) -> Option<f64> {
        match self {
            Bound::Below(x) | Bound::AtMost(x) => Some(x),
            Bound::Unbounded => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumericBin<T> {
    pub bound: Bound,
    pub value: T,
    pub label: String,
}

/// Numeric bins, validated: finite increasing edges, last bin unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericBins<T> {
    bins: Vec<NumericBin<T>>,
}

impl<T> NumericBins<T> {
    /// Checks the ordering rules; the error says which bin (0-based) is wrong.
    pub fn new(bins: Vec<NumericBin<T>>) -> Result<Self, (usize, String)> {
        if bins.is_empty() {
            return Err((0, "at least one bin is required".into()));
        }
        let last = bins.len() - 1;
        let mut previous: Option<Bound> = None;
        for (i, bin) in bins.iter().enumerate() {
            match bin.bound {
                Bound::Unbounded if i != last => {
                    return Err((
                        i,
                        "only the last bin may have no bound (give `below` or `at_most`)".into(),
                    ));
                }
                Bound::Below(x) | Bound::AtMost(x) if !x.is_finite() => {
                    return Err((i, "bound must be a finite number".into()));
                }
                _ => {}
            }
            if i == last && bin.bound != Bound::Unbounded {
                return Err((
                    i,
                    "the last bin must have no bound so that every value falls in a bin".into(),
                ));
            }
            if let (Some(prev), Some(edge)) = (previous.and_then(Bound::edge), bin.bound.edge()) {
                let prev_bound = previous.unwrap_or(Bound::Unbounded);
                let ordered = edge > prev
                    || (edge == prev && matches!((prev_bound, bin.bound), (Bound::Below(_), Bound::AtMost(_))));
                if !ordered {
                    return Err((i, format!("bound {edge} must be above the previous bin's bound {prev}")));
                }
            }
            previous = Some(bin.bound);
        }
        Ok(NumericBins { bins })
    }

    /// A single bin taking every value.
    pub fn catch_all(value: T) -> Self {
        NumericBins {
            bins: vec![NumericBin {
                bound: Bound::Unbounded,
                value,
                label: String::new(),
            }],
        }
    }

    /// The first bin containing `value` (+inf falls in the last bin). NaN falls in the last bin
    /// too; features never produce NaN, this only keeps the function total.
    pub fn find(&self, value: f64) -> &NumericBin<T> {
        let last = self.bins.len() - 1;
        self.bins
            .iter()
            .find(|b| b.bound.contains(value))
            .unwrap_or(&self.bins[last])
    }

    pub fn iter(&self) -> impl Iterator<Item = &NumericBin<T>> {
        self.bins.iter()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryBin<T> {
    pub values: Vec<String>,
    pub value: T,
    pub label: String,
}

/// Categorical bins, validated to cover every category of the feature exactly once.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryBins<T> {
    bins: Vec<CategoryBin<T>>,
}

impl<T> CategoryBins<T> {
    pub fn new(bins: Vec<CategoryBin<T>>, categories: &[&str]) -> Result<Self, (usize, String)> {
        let mut seen: Vec<&str> = Vec::new();
        for (i, bin) in bins.iter().enumerate() {
            if bin.values.is_empty() {
                return Err((i, "`values` must list at least one category".into()));
            }
            for v in &bin.values {
                if !categories.contains(&v.as_str()) {
                    return Err((i, format!("unknown category {v:?}; expected one of {categories:?}")));
                }
                if seen.contains(&v.as_str()) {
                    return Err((i, format!("category {v:?} appears in more than one bin")));
                }
                seen.push(v);
            }
        }
        if let Some(missing) = categories.iter().find(|c| !seen.contains(c)) {
            return Err((bins.len(), format!("category {missing:?} is not in any bin")));
        }
        Ok(CategoryBins { bins })
    }

    /// The bin holding `category`; `None` only for a category outside the validated set.
    pub fn find(&self, category: &str) -> Option<&CategoryBin<T>> {
        self.bins.iter().find(|b| b.values.iter().any(|v| v == category))
    }

    pub fn iter(&self) -> impl Iterator<Item = &CategoryBin<T>> {
        self.bins.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(bound: Bound, value: i32) -> NumericBin<i32> {
        NumericBin {
            bound,
            value,
            label: String::new(),
        }
    }

    #[test]
    fn first_hit_respects_open_and_closed_edges() {
        let bins = NumericBins::new(vec![
            bin(Bound::Below(0.8), 1),
            bin(Bound::Below(0.9), 2),
            bin(Bound::AtMost(1.1), 3),
            bin(Bound::Unbounded, 4),
        ])
        .expect("valid");
        assert_eq!(bins.find(0.799).value, 1);
        assert_eq!(bins.find(0.8).value, 2);
        assert_eq!(bins.find(0.9).value, 3);
        assert_eq!(bins.find(1.1).value, 3);
        assert_eq!(bins.find(1.100_001).value, 4);
        assert_eq!(bins.find(f64::INFINITY).value, 4);
        assert_eq!(bins.find(f64::NEG_INFINITY).value, 1);
    }

    #[test]
    fn rejects_unordered_unbounded_and_open_ended_lists() {
        assert!(
            NumericBins::new(vec![
                bin(Bound::Below(2.0), 1),
                bin(Bound::Below(1.0), 2),
                bin(Bound::Unbounded, 3)
            ])
            .is_err()
        );
        assert!(NumericBins::new(vec![bin(Bound::Unbounded, 1), bin(Bound::Unbounded, 2)]).is_err());
        assert!(NumericBins::new(vec![bin(Bound::Below(1.0), 1)]).is_err());
        assert!(NumericBins::new(vec![bin(Bound::Below(f64::NAN), 1), bin(Bound::Unbounded, 2)]).is_err());
        // x < 1 then x <= 1 is a valid (single-point) bin; the reverse is not.
        assert!(
            NumericBins::new(vec![
                bin(Bound::Below(1.0), 1),
                bin(Bound::AtMost(1.0), 2),
                bin(Bound::Unbounded, 3)
            ])
            .is_ok()
        );
        assert!(
            NumericBins::new(vec![
                bin(Bound::AtMost(1.0), 1),
                bin(Bound::Below(1.0), 2),
                bin(Bound::Unbounded, 3)
            ])
            .is_err()
        );
    }

    #[test]
    fn category_bins_must_cover_every_category_once() {
        let make = |values: &[&str], value| CategoryBin {
            values: values.iter().map(|s| s.to_string()).collect(),
            value,
            label: String::new(),
        };
        assert!(CategoryBins::new(vec![make(&["a"], 1), make(&["b"], 2)], &["a", "b"]).is_ok());
        assert!(CategoryBins::new(vec![make(&["a"], 1)], &["a", "b"]).is_err());
        assert!(CategoryBins::new(vec![make(&["a"], 1), make(&["a", "b"], 2)], &["a", "b"]).is_err());
        assert!(CategoryBins::new(vec![make(&["a", "c"], 1), make(&["b"], 2)], &["a", "b"]).is_err());
    }
}
