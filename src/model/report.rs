//! The model's `report.html`: one self-contained page (inline SVG drawn with plotters, no
//! scripts, fonts or network) with the metrics, the gate, a ROC curve, a calibration plot
//! and the feature importances or coefficients.

use std::fmt::Write;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use super::metrics::{Curves, Metrics};

pub struct ReportInput<'a> {
    pub title: String,
    /// (label, value) lines of the header table.
    pub facts: Vec<(String, String)>,
    /// (name of the evaluated set, metrics).
    pub metrics: Vec<(String, &'a Metrics)>,
    pub curves: &'a Curves,
    /// The published model on the same validation rows: (version, metrics, curves).
    pub champion: Option<(String, &'a Metrics, &'a Curves)>,
    pub gate: String,
    /// (name, value) sorted by importance; a heading says what the values are.
    pub weights_heading: String,
    pub weights: Vec<(String, f64)>,
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the report: {e:?}")
}

pub fn roc_svg(roc: &[(f64, f64)], auc: f64) -> Result<String> {
    roc_svg_of(&[("", roc)], &format!("ROC (AUC {auc:.4})"))
}

/// ROC curves of several models in one plot, with a legend when there is more than one.
fn roc_svg_of(curves: &[(&str, &[(f64, f64)])], caption: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                &RGBColor(180, 180, 180),
            ))
            .map_err(plot_err)?;
        for (i, (name, roc)) in curves.iter().enumerate() {
            let color = [BLUE, RED][i % 2];
            let series = chart
                .draw_series(LineSeries::new(roc.iter().copied(), color.stroke_width(2)))
                .map_err(plot_err)?;
            if !name.is_empty() {
                series
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
            }
        }
        if curves.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

pub fn calibration_svg(bins: &[(f64, f64, f64)]) -> Result<String> {
    let top = bins
        .iter()
        .flat_map(|b| [b.0, b.1])
        .fold(0.0f64, f64::max)
        .clamp(0.05, 1.0)
        * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Calibration (bins of equal weight)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..top, 0f64..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("mean predicted")
            .y_desc("observed rate")
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (top, top)],
                &RGBColor(180, 180, 180),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(bins.iter().map(|b| (b.0, b.1)), &RED))
            .map_err(plot_err)?;
        chart
            .draw_series(
                bins.iter()
                    .map(|b| Circle::new((b.0, b.1), 3, RED.filled())),
            )
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The challenger beside the champion, on the same validation rows.
fn champion_table(
    html: &mut String,
    ours: Option<&Metrics>,
    version: &str,
    theirs: &Metrics,
) -> Result<()> {
    html.push_str("<h2>Against the published model, on the same validation rows</h2>\n<table><tr><th>model</th><th>AUC</th><th>log loss</th><th>normalized entropy</th><th>calibration</th></tr>");
    let rows = ours
        .map(|m| ("this model".to_string(), m))
        .into_iter()
        .chain([(format!("champion {version}"), theirs)]);
    for (name, m) in rows {
        write!(
            html,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            escape(&name),
            m.auc,
            m.log_loss,
            m.normalized_entropy,
            m.calibration
        )?;
    }
    html.push_str("</table>\n");
    Ok(())
}

pub fn render(input: &ReportInput) -> Result<String> {
    let mut html = String::new();
    let auc = input.metrics.first().map_or(f64::NAN, |m| m.1.auc);
    write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font-family:sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;margin:8px 0 20px}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} th{{background:#f3f3f3}}\
         td:first-child,th:first-child{{text-align:left}} .plots svg{{margin-right:16px}}</style></head><body>\n\
         <h1>{t}</h1>\n<table>",
        t = escape(&input.title)
    )?;
    for (k, v) in &input.facts {
        write!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(k),
            escape(v)
        )?;
    }
    html.push_str("</table>\n<h2>Metrics</h2>\n<table><tr><th>set</th><th>rows</th><th>positives</th><th>positive rate</th><th>AUC</th><th>log loss</th><th>normalized entropy</th><th>calibration</th></tr>");
    for (name, m) in &input.metrics {
        write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            escape(name),
            m.rows,
            m.positives,
            m.positive_rate,
            m.auc,
            m.log_loss,
            m.normalized_entropy,
            m.calibration
        )?;
    }
    html.push_str("</table>\n");
    let roc = match &input.champion {
        None => roc_svg(&input.curves.roc, auc)?,
        Some((version, m, curves)) => {
            champion_table(&mut html, input.metrics.first().map(|m| m.1), version, m)?;
            roc_svg_of(
                &[
                    ("this model", &input.curves.roc),
                    ("champion (LATEST)", &curves.roc),
                ],
                &format!("ROC on the same rows (AUC {auc:.4} vs {:.4})", m.auc),
            )?
        }
    };
    write!(
        html,
        "<p><b>Gate:</b> {}</p>\n<div class=\"plots\">{}{}</div>\n<h2>{}</h2>\n<table><tr><th>name</th><th>value</th></tr>",
        escape(&input.gate),
        roc,
        calibration_svg(&input.curves.calibration_bins)?,
        escape(&input.weights_heading)
    )?;
    for (name, v) in &input.weights {
        write!(html, "<tr><td>{}</td><td>{v:.6}</td></tr>", escape(name))?;
    }
    html.push_str("</table>\n</body></html>\n");
    Ok(html)
}
