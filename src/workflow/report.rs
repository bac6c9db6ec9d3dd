//! After each run: `runs/<workflow>/dt=D/summary.json` (machine-readable) and `report.html`
//! (tasks with durations and rows, input volume per day, label rates, model metrics with
//! ROC / calibration plots, recall metrics against heat). Self-contained, inline SVG.

use std::fmt::Write;

use anyhow::{Result, anyhow};
use chrono::{Days, NaiveDate};
use plotters::prelude::*;
use serde_json::{Value, json};

use super::state::{RunState, Status, run_dir};
use crate::contract::INPUT_TABLES;
use crate::model::report::{calibration_svg, escape, roc_svg};
use crate::storage::{Location, Storage, partition_name};

/// Bytes and files of each input table per day, for the 14 days up to D.
async fn input_volume(input: &Storage, date: NaiveDate) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for contract in INPUT_TABLES {
        let table = input.at(contract.name);
        let (present, _) = table.partitions_between(date - Days::new(13), date).await?;
        for day in present {
            let files = table.at(&partition_name(day)).list_parquet_files().await?;
            let bytes: u64 = files.iter().map(|f| f.size).sum();
            out.push(
                json!({"table": contract.name, "dt": day, "files": files.len(), "bytes": bytes}),
            );
        }
    }
    Ok(out)
}

/// A JSON object at a location (local path or URL), if it is there and parses.
async fn read_json(location: &str) -> Option<Value> {
    let at = Storage::open(Location::parse(location).ok()?).ok()?;
    serde_json::from_slice(&at.read("").await.ok()?).ok()
}

fn volume_svg(volume: &[Value]) -> Result<String> {
    let mut days: Vec<NaiveDate> = volume
        .iter()
        .filter_map(|v| v["dt"].as_str()?.parse().ok())
        .collect();
    days.sort();
    days.dedup();
    let (Some(first), Some(last)) = (days.first().copied(), days.last().copied()) else {
        return Ok(String::new());
    };
    let span = (last - first).num_days() as i32 + 1;
    let mb = |v: &Value| v["bytes"].as_f64().unwrap_or(0.0) / 1e6;
    let top = volume.iter().map(mb).fold(0.1f64, f64::max) * 1.1;
    let err = |e: &dyn std::fmt::Debug| anyhow!("drawing the volume plot: {e:?}");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Input volume per day (MB)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0..span, 0f64..top)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(format!("days since {first}"))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, contract) in INPUT_TABLES.iter().enumerate() {
            let points: Vec<(i32, f64)> = volume
                .iter()
                .filter(|v| v["table"] == contract.name)
                .filter_map(|v| {
                    let d: NaiveDate = v["dt"].as_str()?.parse().ok()?;
                    Some(((d - first).num_days() as i32, mb(v)))
                })
                .collect();
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(contract.name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

pub async fn write(input: &Storage, output: &Storage, st: &RunState) -> Result<()> {
    let dir = run_dir(output, &st.workflow, st.date);
    let volume = input_volume(input, st.date).await?;
    let mut models = Vec::new();
    let mut label_days = Value::Null;
    for (name, t) in &st.tasks {
        for o in &t.outputs {
            if o.table.starts_with("models/")
                && let Some(m) = read_json(&format!("{}/metrics.json", o.location)).await
            {
                models.push((name.clone(), o.location.clone(), m));
            }
            if o.table == "training_set"
                && let Some(m) = read_json(&o.location).await
            {
                label_days = m["days"].clone();
            }
        }
    }
    let recall_day = st.date - Days::new(1);
    let recall = read_json(
        &output
            .at("metrics")
            .at("recall")
            .at(&format!("dt={recall_day}.json"))
            .loc
            .to_string(),
    )
    .await;
    let summary = json!({
        "workflow": st.workflow,
        "date": st.date,
        "run_id": st.run_id,
        "status": st.status,
        "reason": st.reason,
        "started": st.started,
        "finished": st.finished,
        "tasks": st.tasks.iter().map(|(n, t)| json!({
            "task": n, "job": t.job, "date": t.date, "status": t.status, "attempts": t.attempts,
            "seconds": t.seconds, "rows": t.rows, "error": t.error,
        })).collect::<Vec<_>>(),
        "label_days": label_days,
        "models": models.iter().map(|(n, loc, m)| json!({
            "task": n, "location": loc, "validation": m["validation"], "gate": m["gate"],
        })).collect::<Vec<_>>(),
        "recall": recall,
        "input_volume": volume,
    });
    dir.write("summary.json", serde_json::to_vec_pretty(&summary)?.into())
        .await?;

    let mut html = String::new();
    write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{w} {d}</title><style>\
         body{{font-family:sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;margin:8px 0 20px}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} th{{background:#f3f3f3}}\
         td:first-child,th:first-child{{text-align:left}} .failed{{color:#b00}}</style></head><body>\n\
         <h1>{w} for {d}</h1><p>run {r}: <b>{s:?}</b>{reason}</p>\n<h2>Tasks</h2><table><tr><th>task</th><th>job</th><th>day</th><th>status</th><th>attempts</th><th>seconds</th><th>rows</th><th>error</th></tr>",
        w = escape(&st.workflow),
        d = st.date,
        r = escape(&st.run_id),
        s = st.status,
        reason = st
            .reason
            .as_ref()
            .map_or(String::new(), |r| format!(" — {}", escape(r)))
    )?;
    for (n, t) in &st.tasks {
        write!(
            html,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if t.status == Status::Failed {
                " class=\"failed\""
            } else {
                ""
            },
            escape(n),
            escape(&t.job),
            t.date,
            t.status,
            t.attempts,
            t.seconds.map_or(String::new(), |s| format!("{s:.1}")),
            t.rows,
            escape(t.error.as_deref().unwrap_or(""))
        )?;
    }
    html.push_str("</table>\n");
    html.push_str("<h2>Input volume</h2>");
    html.push_str(&volume_svg(&volume)?);
    if let Some(days) = label_days.as_array() {
        html.push_str("<h2>Label days</h2><table><tr><th>day</th><th>rows</th><th>positives</th><th>label rate</th><th>dropped (between thresholds)</th></tr>");
        for d in days {
            let rows = d["rows"].as_f64().unwrap_or(0.0);
            let pos = d["positives"].as_f64().unwrap_or(0.0);
            write!(
                html,
                "<tr><td>{}</td><td>{rows}</td><td>{pos}</td><td>{:.4}</td><td>{}</td></tr>",
                d["dt"].as_str().unwrap_or(""),
                if rows > 0.0 { pos / rows } else { 0.0 },
                d["dropped_band"]
            )?;
        }
        html.push_str("</table>\n");
    }
    if !models.is_empty() {
        html.push_str("<h2>Models</h2><table><tr><th>task</th><th>AUC</th><th>log loss</th><th>NE</th><th>calibration</th><th>gate</th></tr>");
        for (n, _, m) in &models {
            let v = &m["validation"];
            write!(
                html,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.3}</td><td>{}</td></tr>",
                escape(n),
                v["auc"].as_f64().unwrap_or(f64::NAN),
                v["log_loss"].as_f64().unwrap_or(f64::NAN),
                v["normalized_entropy"].as_f64().unwrap_or(f64::NAN),
                v["calibration"].as_f64().unwrap_or(f64::NAN),
                escape(m["gate"]["reason"].as_str().unwrap_or(""))
            )?;
        }
        html.push_str("</table>\n");
        for (n, _, m) in &models {
            let roc: Vec<(f64, f64)> =
                serde_json::from_value(m["curves"]["roc"].clone()).unwrap_or_default();
            let bins: Vec<(f64, f64, f64)> =
                serde_json::from_value(m["curves"]["calibration_bins"].clone()).unwrap_or_default();
            if roc.is_empty() {
                continue;
            }
            write!(
                html,
                "<h3>{}</h3><div>{}{}</div>",
                escape(n),
                roc_svg(&roc, m["validation"]["auc"].as_f64().unwrap_or(f64::NAN))?,
                calibration_svg(&bins)?
            )?;
        }
    }
    if let Some(rows) = recall.as_ref().and_then(Value::as_array) {
        write!(
            html,
            "<h2>Recall of {recall_day}'s candidates on {}</h2><table><tr><th>target</th><th>channel</th><th>K</th><th>users</th><th>HR</th><th>recall</th><th>NDCG</th><th>coverage</th></tr>",
            st.date
        )?;
        for r in rows {
            write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                escape(r["target"].as_str().unwrap_or("")),
                escape(r["channel"].as_str().unwrap_or("")),
                r["k"],
                r["users"],
                r["hr"].as_f64().unwrap_or(f64::NAN),
                r["recall"].as_f64().unwrap_or(f64::NAN),
                r["ndcg"].as_f64().unwrap_or(f64::NAN),
                r["coverage"].as_f64().unwrap_or(f64::NAN)
            )?;
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    dir.write("report.html", html.into_bytes().into()).await?;
    Ok(())
}
