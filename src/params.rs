//! Typed job parameters. Every value from the command line or a job file is parsed and
//! validated against its declared type and bounds before it reaches SQL, where it is bound as
//! a typed placeholder (`$name`), never spliced into the query text.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use chrono::{NaiveDate, NaiveTime};
use datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Date,
    Int,
    Float,
    Bool,
    String,
}

/// A parameter's declaration in a job file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    #[serde(rename = "type")]
    pub ty: ParamType,
    #[serde(default)]
    pub default: Option<toml::Value>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Allowed values of a string parameter.
    #[serde(default)]
    pub choices: Option<Vec<String>>,
    #[serde(default)]
    pub doc: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Date(NaiveDate),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl ParamValue {
    pub fn to_scalar(&self) -> ScalarValue {
        match self {
            ParamValue::Date(d) => ScalarValue::Date32(Some(date_to_days(*d))),
            ParamValue::Int(i) => ScalarValue::Int64(Some(*i)),
            ParamValue::Float(f) => ScalarValue::Float64(Some(*f)),
            ParamValue::Bool(b) => ScalarValue::Boolean(Some(*b)),
            ParamValue::Str(s) => ScalarValue::Utf8(Some(s.clone())),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            ParamValue::Float(f) => Some(*f),
            ParamValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_date(&self) -> Option<NaiveDate> {
        match self {
            ParamValue::Date(d) => Some(*d),
            _ => None,
        }
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Str(s) => write!(f, "{s}"),
        }
    }
}

/// Days since the Unix epoch, Arrow's Date32.
pub fn date_to_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// Microseconds since the epoch at 00:00 UTC of a day.
pub fn day_start_micros(d: NaiveDate) -> i64 {
    d.and_time(NaiveTime::MIN).and_utc().timestamp_micros()
}

pub fn parse_date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| anyhow::anyhow!("{text:?} is not a date YYYY-MM-DD ({e})"))
}

impl ParamSpec {
    /// Parses a command-line value for parameter `name`.
    pub fn parse_text(&self, name: &str, text: &str) -> Result<ParamValue> {
        let value =
            match self.ty {
                ParamType::Date => ParamValue::Date(
                    parse_date(text).map_err(|e| anyhow::anyhow!("parameter `{name}`: {e}"))?,
                ),
                ParamType::Int => ParamValue::Int(text.trim().parse::<i64>().map_err(|_| {
                    anyhow::anyhow!("parameter `{name}`: {text:?} is not an integer")
                })?),
                ParamType::Float => {
                    let x = text.trim().parse::<f64>().map_err(|_| {
                        anyhow::anyhow!("parameter `{name}`: {text:?} is not a number")
                    })?;
                    ParamValue::Float(x)
                }
                ParamType::Bool => match text.trim() {
                    "true" | "1" | "yes" => ParamValue::Bool(true),
                    "false" | "0" | "no" => ParamValue::Bool(false),
                    _ => bail!("parameter `{name}`: {text:?} is not true/false"),
                },
                ParamType::String => ParamValue::Str(text.to_string()),
            };
        self.validate(name, value)
    }

    /// Converts a TOML default (or override) for parameter `name`.
    pub fn from_toml(&self, name: &str, v: &toml::Value) -> Result<ParamValue> {
        let value = match (self.ty, v) {
            (ParamType::Date, toml::Value::String(s)) => ParamValue::Date(parse_date(s)?),
            (ParamType::Int, toml::Value::Integer(i)) => ParamValue::Int(*i),
            (ParamType::Float, toml::Value::Float(x)) => ParamValue::Float(*x),
            (ParamType::Float, toml::Value::Integer(i)) => ParamValue::Float(*i as f64),
            (ParamType::Bool, toml::Value::Boolean(b)) => ParamValue::Bool(*b),
            (ParamType::String, toml::Value::String(s)) => ParamValue::Str(s.clone()),
            (ty, v) => bail!("parameter `{name}`: {v} is not a {ty:?}"),
        };
        self.validate(name, value)
    }

    fn validate(&self, name: &str, value: ParamValue) -> Result<ParamValue> {
        let numeric = match &value {
            ParamValue::Int(i) => Some(*i as f64),
            ParamValue::Float(x) => {
                if !x.is_finite() {
                    bail!("parameter `{name}`: {x} is not a finite number");
                }
                Some(*x)
            }
            _ => None,
        };
        if let Some(x) = numeric {
            if let Some(min) = self.min
                && x < min
            {
                bail!("parameter `{name}`: {value} is below the minimum {min}");
            }
            if let Some(max) = self.max
                && x > max
            {
                bail!("parameter `{name}`: {value} is above the maximum {max}");
            }
        }
        if let (Some(choices), ParamValue::Str(s)) = (&self.choices, &value)
            && !choices.iter().any(|c| c == s)
        {
            bail!(
                "parameter `{name}`: {s:?} is not one of {}",
                choices.join(", ")
            );
        }
        Ok(value)
    }
}

/// Bound parameter values of one run, by name (sorted, so manifests are stable).
pub type Params = BTreeMap<String, ParamValue>;

/// Binds declared parameters: defaults first, then `key=value` overrides from the command line.
pub fn bind(specs: &BTreeMap<String, ParamSpec>, overrides: &[(String, String)]) -> Result<Params> {
    let mut out = Params::new();
    for (name, spec) in specs {
        if let Some(default) = &spec.default {
            out.insert(name.clone(), spec.from_toml(name, default)?);
        }
    }
    for (key, text) in overrides {
        let Some(spec) = specs.get(key) else {
            let known: Vec<_> = specs.keys().map(String::as_str).collect();
            bail!(
                "unknown parameter `{key}` (this job takes: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        };
        out.insert(key.clone(), spec.parse_text(key, text)?);
    }
    for name in specs.keys() {
        if !out.contains_key(name) {
            bail!("parameter `{name}` has no default and was not set (use --set {name}=…)");
        }
    }
    Ok(out)
}

/// Bound values as JSON, for manifests.
pub fn to_json(params: &Params) -> BTreeMap<String, serde_json::Value> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect()
}

/// Bound values as a settings struct: `T` names the parameters it needs as fields (with their
/// Rust types); a parameter missing from `params` or of another type is an error naming it.
/// Extra parameters are ignored (every job also takes the data-quality parameters).
pub fn settings<T: serde::de::DeserializeOwned>(params: &Params) -> Result<T> {
    let map: serde_json::Map<String, serde_json::Value> = to_json(params).into_iter().collect();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| anyhow::anyhow!("job parameters: {e}"))
}

/// Splits a `key=value` command-line override.
pub fn parse_override(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => bail!("--set expects key=value, got {text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ty: ParamType) -> ParamSpec {
        ParamSpec {
            ty,
            default: None,
            min: Some(0.0),
            max: None,
            choices: None,
            doc: String::new(),
        }
    }

    #[test]
    fn values_are_typed_and_validated() {
        let int = spec(ParamType::Int);
        assert_eq!(int.parse_text("n", "7").unwrap(), ParamValue::Int(7));
        assert!(int.parse_text("n", "7; DROP TABLE x").is_err());
        assert!(int.parse_text("n", "-1").is_err());
        let date = spec(ParamType::Date);
        assert!(date.parse_text("d", "2026-02-30").is_err());
        assert!(date.parse_text("d", "2026-01-01' OR '1'='1").is_err());
        let float = spec(ParamType::Float);
        assert!(float.parse_text("w", "NaN").is_err());
        let mut specs = BTreeMap::new();
        specs.insert("n".to_string(), int);
        assert!(bind(&specs, &[("m".into(), "1".into())]).is_err());
        assert!(bind(&specs, &[]).is_err(), "no default and not set");
        let bound = bind(&specs, &[("n".into(), "3".into())]).unwrap();
        assert_eq!(bound["n"], ParamValue::Int(3));
    }

    #[test]
    fn settings_are_typed_and_missing_ones_are_errors() {
        #[derive(serde::Deserialize)]
        struct S {
            n: u32,
            rate: f64,
            day: NaiveDate,
        }
        let mut p = Params::new();
        p.insert("n".into(), ParamValue::Int(3));
        p.insert("rate".into(), ParamValue::Int(1));
        p.insert("other".into(), ParamValue::Bool(true));
        let err = settings::<S>(&p).err().unwrap().to_string();
        assert!(err.contains("missing field `day`"), "{err}");
        p.insert(
            "day".into(),
            ParamValue::Date(parse_date("2026-01-02").unwrap()),
        );
        let s: S = settings(&p).unwrap();
        assert_eq!(
            (s.n, s.rate, s.day.to_string().as_str()),
            (3, 1.0, "2026-01-02")
        );
        p.insert("n".into(), ParamValue::Int(-1));
        assert!(settings::<S>(&p).is_err(), "a negative count is refused");
    }
}
