//! CEL expressions as extra rule conditions (`when.expr`).
//!
//! Variables: `code`, `group`, `state`, `side` ("C"/"V"), `client` (NIT
//! digits), `date` ("YYYY-MM-DD", compare as strings), `value` and
//! `invoice_value` (whole pesos as integers: money never becomes a float),
//! `quantity_kg` (a double; a quantity, not money) and `lines` (the number of
//! lines in the invoice). An expression must evaluate to a boolean; it is
//! checked at load time against a sample line, so unknown variables and type
//! errors are configuration errors, not pricing surprises.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{PricingInput, PricingLine};
use crate::catalog::ProcessingState;

pub const VARIABLES: &[&str] = &[
    "code",
    "group",
    "state",
    "side",
    "client",
    "date",
    "value",
    "invoice_value",
    "quantity_kg",
    "lines",
];

fn env() -> Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib())).clone()
}

/// A compiled CEL condition.
#[derive(Clone)]
pub struct Expr {
    source: String,
    program: Arc<cel::Program>,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

fn pesos(d: Decimal) -> i64 {
    d.trunc().to_i64().unwrap_or(if d.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

impl Expr {
    /// Parse, check the variables it uses, and try it on a sample line.
    pub fn compile(source: &str) -> Result<Expr, String> {
        let program = cel::Program::compile(source)
            .map_err(|e| format!("not a valid CEL expression: {e}"))?;
        let unknown: Vec<String> = program
            .references()
            .variables()
            .into_iter()
            .filter(|v| !VARIABLES.contains(v))
            .map(str::to_string)
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unknown variable(s) {}; available: {}",
                unknown.join(", "),
                VARIABLES.join(", ")
            ));
        }
        let e = Expr {
            source: source.to_string(),
            program: Arc::new(program),
        };
        let sample_line = PricingLine {
            code: "1".into(),
            group: "GRANOS".into(),
            state: ProcessingState::Natural,
            quantity_kg: Decimal::ONE,
            value: Decimal::ONE,
        };
        let sample = PricingInput {
            date: chrono::NaiveDate::default(),
            client: "1".into(),
            side: super::Side::Seller,
            lines: vec![sample_line.clone()],
        };
        e.eval(&sample, "1", &sample_line)
            .map_err(|err| format!("does not evaluate to a boolean: {err}"))?;
        Ok(e)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate for one line of an invoice; `client` is the normalised NIT.
    pub fn eval(
        &self,
        input: &PricingInput,
        client: &str,
        line: &PricingLine,
    ) -> Result<bool, String> {
        let mut ctx = cel::Context::with_env(env());
        let total: Decimal = input.lines.iter().map(|l| l.value).sum();
        ctx.add_variable_from_value("code", line.code.clone());
        ctx.add_variable_from_value("group", line.group.to_uppercase());
        ctx.add_variable_from_value("state", line.state.as_str().to_string());
        ctx.add_variable_from_value("side", input.side.as_str().to_string());
        ctx.add_variable_from_value("client", client.to_string());
        ctx.add_variable_from_value("date", input.date.to_string());
        ctx.add_variable_from_value("value", pesos(line.value));
        ctx.add_variable_from_value("invoice_value", pesos(total));
        ctx.add_variable_from_value("quantity_kg", line.quantity_kg.to_f64().unwrap_or(f64::NAN));
        ctx.add_variable_from_value("lines", input.lines.len() as i64);
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("resultado {other:?}, no booleano")),
            Err(e) => Err(e.to_string()),
        }
    }
}
