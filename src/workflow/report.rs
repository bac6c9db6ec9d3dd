//! After each run: `runs/<workflow>/dt=D/summary.json` (machine-readable, [`RunSummary`]) and
//! `report.html` (tasks with durations and rows, input volume per day, label rates, model
//! metrics with ROC / calibration plots, recall metrics against heat). Self-contained, inline
//! SVG.

use std::fmt::Write;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Days, NaiveDate, Utc};
use plotters::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::state::{RunState, Status, run_dir};
use crate::contract::INPUT_TABLES;
use crate::doc::model::{Gate, Metrics, ModelMetrics};
use crate::doc::recall::RecallRow;
use crate::doc::training_set::{LabelDay, TrainingSetManifest};
use crate::layout;
use crate::model::report::{calibration_svg, escape, roc_svg};
use crate::storage::{Location, Storage};

/// `summary.json`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub workflow: String,
    pub date: NaiveDate,
    pub run_id: String,
    pub status: Status,
    pub reason: Option<String>,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub tasks: Vec<TaskSummary>,
    /// The training set's label days, when the run built one.
    pub label_days: Vec<LabelDay>,
    pub models: Vec<ModelSummary>,
    /// The recall evaluation of the day before's candidates, when there is one.
    pub recall: Option<Vec<RecallRow>>,
    pub input_volume: Vec<InputVolume>,
}

#[derive(Debug, Serialize)]
pub struct TaskSummary {
    pub task: String,
    pub job: String,
    pub date: NaiveDate,
    pub status: Status,
    pub attempts: u32,
    pub seconds: Option<f64>,
    pub rows: u64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ModelSummary {
    pub task: String,
    pub location: String,
    pub validation: Metrics,
    pub gate: Gate,
    /// Not in summary.json: the curves, for the plots.
    #[serde(skip)]
    metrics: ModelMetrics,
}

/// Bytes and files of an input table's partition.
#[derive(Debug, Serialize)]
pub struct InputVolume {
    pub table: String,
    pub dt: NaiveDate,
    pub files: usize,
    pub bytes: u64,
}

/// Bytes and files of each input table per day, for the 14 days up to D.
async fn input_volume(input: &Storage, date: NaiveDate) -> Result<Vec<InputVolume>> {
    let mut out = Vec::new();
    for contract in INPUT_TABLES {
        let table = input.at(contract.name);
        let (present, _) = table.partitions_between(date - Days::new(13), date).await?;
        for day in present {
            let files = table
                .at(&layout::partition(day))
                .list_parquet_files()
                .await?;
            out.push(InputVolume {
                table: contract.name.to_string(),
                dt: day,
                files: files.len(),
                bytes: files.iter().map(|f| f.size).sum(),
            });
        }
    }
    Ok(out)
}

/// A JSON document at a location (local path or URL), if it is there and parses.
async fn read_doc<T: DeserializeOwned>(location: &Location) -> Option<T> {
    let at = Storage::open(location.clone()).ok()?;
    serde_json::from_slice(&at.read("").await.ok()?).ok()
}

/// What the run's tasks produced that the report shows.
async fn summarize(input: &Storage, output: &Storage, st: &RunState) -> Result<RunSummary> {
    let mut models = Vec::new();
    let mut label_days = Vec::new();
    for (name, t) in &st.tasks {
        for o in &t.outputs {
            let Ok(loc) = Location::parse(&o.location) else {
                continue;
            };
            if o.table.starts_with(layout::MODELS)
                && let Some(m) = read_doc::<ModelMetrics>(&loc.join(layout::METRICS)).await
            {
                models.push(ModelSummary {
                    task: name.clone(),
                    location: o.location.clone(),
                    validation: m.validation.clone(),
                    gate: m.gate.clone(),
                    metrics: m,
                });
            }
            if o.table == "training_set"
                && let Some(m) = read_doc::<TrainingSetManifest>(&loc).await
            {
                label_days = m.days;
            }
        }
    }
    let recall_day = st.date - Days::new(1);
    let recall = read_doc(
        &output
            .at("metrics/recall")
            .at(&layout::json_output(recall_day))
            .loc,
    )
    .await;
    Ok(RunSummary {
        workflow: st.workflow.clone(),
        date: st.date,
        run_id: st.run_id.clone(),
        status: st.status,
        reason: st.reason.clone(),
        started: st.started,
        finished: st.finished,
        tasks: st
            .tasks
            .iter()
            .map(|(n, t)| TaskSummary {
                task: n.clone(),
                job: t.job.clone(),
                date: t.date,
                status: t.status,
                attempts: t.attempts,
                seconds: t.seconds,
                rows: t.rows,
                error: t.error.clone(),
            })
            .collect(),
        label_days,
        models,
        recall,
        input_volume: input_volume(input, st.date).await?,
    })
}

fn volume_svg(volume: &[InputVolume]) -> Result<String> {
    let mut days: Vec<NaiveDate> = volume.iter().map(|v| v.dt).collect();
    days.sort();
    days.dedup();
    let (Some(first), Some(last)) = (days.first().copied(), days.last().copied()) else {
        return Ok(String::new());
    };
    let span = (last - first).num_days() as i32 + 1;
    let mb = |v: &InputVolume| v.bytes as f64 / 1e6;
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
                .filter(|v| v.table == contract.name)
                .map(|v| ((v.dt - first).num_days() as i32, mb(v)))
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
    let summary = summarize(input, output, st).await?;
    dir.write(
        layout::RUN_SUMMARY,
        serde_json::to_vec_pretty(&summary)?.into(),
    )
    .await?;
    let mut html = String::new();
    tasks_html(&mut html, &summary)?;
    html.push_str("<h2>Input volume</h2>");
    html.push_str(&volume_svg(&summary.input_volume)?);
    label_days_html(&mut html, &summary.label_days)?;
    models_html(&mut html, &summary.models)?;
    if let Some(rows) = &summary.recall {
        recall_html(&mut html, rows, st.date)?;
    }
    html.push_str("</body></html>\n");
    dir.write(layout::REPORT, html.into_bytes().into()).await?;
    Ok(())
}

fn tasks_html(html: &mut String, s: &RunSummary) -> Result<()> {
    write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{w} {d}</title><style>\
         body{{font-family:sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;margin:8px 0 20px}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} th{{background:#f3f3f3}}\
         td:first-child,th:first-child{{text-align:left}} .failed{{color:#b00}}</style></head><body>\n\
         <h1>{w} for {d}</h1><p>run {r}: <b>{st:?}</b>{reason}</p>\n<h2>Tasks</h2><table><tr><th>task</th><th>job</th><th>day</th><th>status</th><th>attempts</th><th>seconds</th><th>rows</th><th>error</th></tr>",
        w = escape(&s.workflow),
        d = s.date,
        r = escape(&s.run_id),
        st = s.status,
        reason = s
            .reason
            .as_ref()
            .map_or(String::new(), |r| format!(" — {}", escape(r)))
    )?;
    for t in &s.tasks {
        write!(
            html,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if t.status == Status::Failed {
                " class=\"failed\""
            } else {
                ""
            },
            escape(&t.task),
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
    Ok(())
}

fn label_days_html(html: &mut String, days: &[LabelDay]) -> Result<()> {
    if days.is_empty() {
        return Ok(());
    }
    html.push_str("<h2>Label days</h2><table><tr><th>day</th><th>rows</th><th>positives</th><th>label rate</th><th>dropped (between thresholds)</th></tr>");
    for d in days {
        write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{}</td></tr>",
            d.dt,
            d.rows,
            d.positives,
            if d.rows > 0 {
                d.positives as f64 / d.rows as f64
            } else {
                0.0
            },
            d.dropped_band
        )?;
    }
    html.push_str("</table>\n");
    Ok(())
}

fn models_html(html: &mut String, models: &[ModelSummary]) -> Result<()> {
    if models.is_empty() {
        return Ok(());
    }
    html.push_str("<h2>Models</h2><table><tr><th>task</th><th>AUC</th><th>log loss</th><th>NE</th><th>calibration</th><th>gate</th></tr>");
    for m in models {
        let v = &m.validation;
        write!(
            html,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.3}</td><td>{}</td></tr>",
            escape(&m.task),
            v.auc,
            v.log_loss,
            v.normalized_entropy,
            v.calibration,
            escape(&m.gate.reason)
        )?;
    }
    html.push_str("</table>\n");
    for m in models {
        let curves = &m.metrics.curves;
        if curves.roc.is_empty() {
            continue;
        }
        write!(
            html,
            "<h3>{}</h3><div>{}{}</div>",
            escape(&m.task),
            roc_svg(&curves.roc, m.validation.auc)?,
            calibration_svg(&curves.calibration_bins)?
        )?;
    }
    Ok(())
}

fn recall_html(html: &mut String, rows: &[RecallRow], date: NaiveDate) -> Result<()> {
    write!(
        html,
        "<h2>Recall of {}'s candidates on {date}</h2><table><tr><th>target</th><th>channel</th><th>K</th><th>users</th><th>HR</th><th>recall</th><th>NDCG</th><th>coverage</th></tr>",
        date - Days::new(1)
    )?;
    for r in rows {
        write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            escape(&r.target),
            escape(&r.channel),
            r.k,
            r.users,
            r.hr,
            r.recall,
            r.ndcg,
            r.coverage
        )?;
    }
    html.push_str("</table>\n");
    Ok(())
}
