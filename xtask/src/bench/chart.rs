//! The scaling chart, drawn as SVG by hand (no plotting crate, no font files): four panels
//! (client time, peak memory, stdout bytes and storage bytes per step) against the step count
//! on a log axis, one line per events form.

use std::fmt::Write as _;

use super::measure::{mb, ms};
use super::scaling::{Events, Row};

const PANEL_W: f64 = 330.0;
const PANEL_H: f64 = 220.0;
const MARGIN_L: f64 = 62.0;
const MARGIN_T: f64 = 34.0;
const PLOT_W: f64 = PANEL_W - MARGIN_L - 16.0;
const PLOT_H: f64 = PANEL_H - MARGIN_T - 40.0;

type Metric = (&'static str, fn(&Row) -> Option<f64>);

fn metrics() -> [Metric; 4] {
    [
        ("client time per step (ms)", |r| {
            r.result.as_ref().ok().map(|f| ms(f.step))
        }),
        ("peak RSS (MB)", |r| {
            r.result.as_ref().ok().map(|f| mb(f.peak_rss))
        }),
        ("stdout bytes per step", |r| {
            r.result.as_ref().ok().map(|f| f.stdout_per_step)
        }),
        ("storage bytes per step", |r| {
            r.result.as_ref().ok().map(|f| f.storage_per_step)
        }),
    ]
}

fn colour(e: Events) -> &'static str {
    match e {
        Events::Full => "#c0392b",
        Events::Compact => "#2471a3",
    }
}

/// The chart of `rows` as an SVG document; `caption` goes under the title.
pub fn svg(rows: &[Row], caption: &str) -> String {
    let mut steps: Vec<usize> = rows.iter().map(|r| r.steps).collect();
    steps.sort_unstable();
    steps.dedup();
    let (lo, hi) = (
        steps.first().copied().unwrap_or(1).max(1) as f64,
        steps.last().copied().unwrap_or(10).max(2) as f64,
    );
    let x_of = |s: usize| {
        let span = (hi.log10() - lo.log10()).max(1e-9);
        MARGIN_L + (((s.max(1) as f64).log10() - lo.log10()) / span) * PLOT_W
    };
    let width = PANEL_W * 2.0;
    let height = PANEL_H * 2.0 + 60.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="10" y="18" font-size="14" font-weight="bold">perstack run: cost per step against run length</text><text x="10" y="34" fill="#555">{}</text>"##,
        escape(caption)
    );
    for (i, (title, value)) in metrics().into_iter().enumerate() {
        let ox = (i % 2) as f64 * PANEL_W;
        let oy = 44.0 + (i / 2) as f64 * PANEL_H;
        let max = rows
            .iter()
            .filter_map(value)
            .fold(0.0_f64, f64::max)
            .max(1e-9)
            * 1.15;
        let y_of = |v: f64| oy + MARGIN_T + PLOT_H - (v / max) * PLOT_H;
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" font-weight="bold">{}</text>"##,
            ox + MARGIN_L,
            oy + 20.0,
            escape(title)
        );
        // Axes, y ticks at quarters, x ticks at each step count.
        let _ = writeln!(
            out,
            r##"<path d="M{x0} {y0} V{y1} H{x1}" stroke="#333" fill="none"/>"##,
            x0 = ox + MARGIN_L,
            y0 = oy + MARGIN_T,
            y1 = oy + MARGIN_T + PLOT_H,
            x1 = ox + MARGIN_L + PLOT_W
        );
        for q in 0..=4 {
            let v = max * f64::from(q) / 4.0;
            let y = y_of(v);
            let _ = writeln!(
                out,
                r##"<line x1="{a}" y1="{y}" x2="{b}" y2="{y}" stroke="#ddd"/><text x="{t}" y="{ty}" text-anchor="end">{label}</text>"##,
                a = ox + MARGIN_L,
                b = ox + MARGIN_L + PLOT_W,
                t = ox + MARGIN_L - 4.0,
                ty = y + 4.0,
                label = tick(v)
            );
        }
        for &s in &steps {
            let x = ox + x_of(s);
            let _ = writeln!(
                out,
                r##"<text x="{x}" y="{y}" text-anchor="middle">{s}</text>"##,
                y = oy + MARGIN_T + PLOT_H + 14.0
            );
        }
        let _ = writeln!(
            out,
            r##"<text x="{x}" y="{y}" text-anchor="middle" fill="#555">steps (log scale)</text>"##,
            x = ox + MARGIN_L + PLOT_W / 2.0,
            y = oy + MARGIN_T + PLOT_H + 28.0
        );
        for events in Events::ALL {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.events == events)
                .filter_map(|r| value(r).map(|v| (ox + x_of(r.steps), y_of(v))))
                .collect();
            if points.is_empty() {
                continue;
            }
            let d: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
                d.join(" "),
                c = colour(events)
            );
            for (x, y) in points {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{}"/>"#,
                    colour(events)
                );
            }
        }
    }
    // Legend.
    for (i, events) in Events::ALL.into_iter().enumerate() {
        let x = 10.0 + i as f64 * 150.0;
        let y = height - 10.0;
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{ly}" x2="{x2}" y2="{ly}" stroke="{c}" stroke-width="3"/><text x="{tx}" y="{y}">--events {name}</text>"#,
            ly = y - 4.0,
            x2 = x + 24.0,
            tx = x + 30.0,
            c = colour(events),
            name = events.name()
        );
    }
    out.push_str("</svg>\n");
    out
}

fn tick(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
