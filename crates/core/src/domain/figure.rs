//! Figures an explanation shows: what a rule compared (an amount, a number, a label or a date)
//! and the policy threshold it compared it with. Knock-outs, refer flags, cross-checks and
//! warning signals all carry them, so a reader never has to recompute a decision to see why.

use serde::{Deserialize, Serialize};

use super::Amount;

/// The value of one figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FigureValue {
    /// Money, in minor units of the case's currency.
    Amount(Amount),
    /// A plain number: a ratio, a count, a number of days or years.
    Number(f64),
    /// A label or a date: a tax rating, a registry status, an ISO date.
    Text(String),
}

/// A named figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: FigureValue,
}

impl Figure {
    pub fn amount(name: &str, a: Amount) -> Figure {
        Figure {
            name: name.to_owned(),
            value: FigureValue::Amount(a),
        }
    }

    pub fn number(name: &str, x: f64) -> Figure {
        Figure {
            name: name.to_owned(),
            value: FigureValue::Number(x),
        }
    }

    pub fn text(name: &str, s: impl Into<String>) -> Figure {
        Figure {
            name: name.to_owned(),
            value: FigureValue::Text(s.into()),
        }
    }
}
