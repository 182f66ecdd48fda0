//! The targets of issue 13, checked against what this bench measured: pass, fail, or not
//! measured (with why). Reported, never asserted: a loaded machine must not fail a build.

use std::fmt::Write as _;
use std::time::Duration;

use super::concurrent::Report;
use super::measure::mb;
use super::scaling::{Events, Row};
use super::side_by_side::{Peer, PeerResult, figures};

/// One target's verdict.
#[derive(Debug, Clone)]
struct Check {
    figure: &'static str,
    target: &'static str,
    measured: String,
    pass: Option<bool>,
}

/// Every target's verdict so far.
#[derive(Debug, Default)]
pub struct Checks {
    checks: Vec<Check>,
}

impl Checks {
    fn add(
        &mut self,
        figure: &'static str,
        target: &'static str,
        measured: String,
        pass: Option<bool>,
    ) {
        self.checks.push(Check {
            figure,
            target,
            measured,
            pass,
        });
    }

    /// First request and peak RSS at 20 steps, from this runtime's side-by-side runs.
    pub fn side_by_side(&mut self, results: &[PeerResult], floor: Duration) {
        let ours = results
            .iter()
            .find(|r| r.peer == Peer::Perstack && !r.samples.is_empty());
        let Some(r) = ours else {
            self.add(
                "first request, over the spawn floor",
                "< 5 ms",
                "not measured".into(),
                None,
            );
            return;
        };
        let f = figures(r, floor);
        self.add(
            "first request, over the spawn floor",
            "< 5 ms",
            format!("{:.1} ms", f.first.median),
            Some(f.first.median < 5.0),
        );
        self.add(
            "peak RSS, 20 steps",
            "< 15 MB",
            format!("{:.1} MB", f.rss.median),
            Some(f.rss.median < 15.0),
        );
    }

    /// Peak RSS at 1000 steps, growth of the step time and of stdout per step (compact),
    /// durable syncs per step.
    pub fn scaling(&mut self, rows: &[Row]) {
        let find = |steps: usize, events: Events| {
            rows.iter()
                .find(|r| r.steps == steps && r.events == events)
                .and_then(|r| r.result.as_ref().ok())
        };
        let compact_1000 = find(1000, Events::Compact);
        match compact_1000.or_else(|| find(1000, Events::Full)) {
            Some(f) => self.add(
                "peak RSS, 1000 steps",
                "< 20 MB",
                format!(
                    "{:.1} MB ({})",
                    mb(f.peak_rss),
                    if compact_1000.is_some() {
                        "compact"
                    } else {
                        "full"
                    }
                ),
                Some(mb(f.peak_rss) < 20.0),
            ),
            None => self.add(
                "peak RSS, 1000 steps",
                "< 20 MB",
                "not measured".into(),
                None,
            ),
        }
        match compact_1000 {
            Some(f) => self.add(
                "client time per step, last tenth vs first tenth of 1000 (compact)",
                "< 1.5×",
                format!("{:.2}×", f.growth),
                Some(f.growth < 1.5),
            ),
            None => self.add(
                "client time per step, last tenth vs first tenth of 1000 (compact)",
                "< 1.5×",
                "not measured (no compact run at 1000 steps)".into(),
                None,
            ),
        }
        match (find(10, Events::Compact), compact_1000) {
            (Some(a), Some(b)) if a.stdout_per_step > 0.0 => {
                let ratio = b.stdout_per_step / a.stdout_per_step;
                self.add(
                    "stdout bytes per step, 1000 vs 10 steps (compact)",
                    "within 1.5×",
                    format!("{ratio:.2}×"),
                    Some((1.0 / 1.5..=1.5).contains(&ratio)),
                );
            }
            _ => self.add(
                "stdout bytes per step, 1000 vs 10 steps (compact)",
                "within 1.5×",
                "not measured (no compact runs at 10 and 1000 steps)".into(),
                None,
            ),
        }
        // Per step beyond the fixed syncs of creating the job and the run: the difference
        // between the two longest counted runs of one events form.
        let mut counted: Vec<(&Row, f64)> = rows
            .iter()
            .filter_map(|r| Some((r, r.result.as_ref().ok()?.syncs_per_step?)))
            .collect();
        counted.sort_by_key(|(r, _)| (r.events == Events::Compact, r.steps));
        match counted.as_slice() {
            [.., (a, sa), (b, sb)] if a.events == b.events && b.steps > a.steps => {
                let total = |r: &Row, s: f64| s * r.steps as f64;
                let marginal = (total(b, *sb) - total(a, *sa)) / (b.steps - a.steps) as f64;
                self.add(
                    "durable syncs per step",
                    "≤ 1",
                    format!(
                        "{marginal:.3} per step from {} to {} steps ({} events; {:.0} syncs for {} \
                         steps); {sb:.2} per step over the whole {}-step run",
                        a.steps,
                        b.steps,
                        b.events.name(),
                        total(b, *sb) - total(a, *sa),
                        b.steps - a.steps,
                        b.steps
                    ),
                    Some(marginal <= 1.0),
                );
            }
            [.., (r, s)] => self.add(
                "durable syncs per step",
                "≤ 1",
                format!("{s:.2} ({} steps, {} events)", r.steps, r.events.name()),
                Some(*s <= 1.0),
            ),
            [] => self.add("durable syncs per step", "≤ 1", "not counted".into(), None),
        }
    }

    /// The concurrent executions.
    pub fn concurrent(&mut self, r: &Report, executions: usize) {
        let done = r.line["completed"].as_u64().unwrap_or(0);
        self.add(
            "concurrent executions in one process",
            "all complete; p50/p99 and peak memory reported",
            format!(
                "{done}/{executions}; p50 {:.2} ms, p99 {:.2} ms; {:.1} MB",
                r.line["stepP50Ms"].as_f64().unwrap_or(0.0),
                r.line["stepP99Ms"].as_f64().unwrap_or(0.0),
                mb(r.peak_rss)
            ),
            Some(usize::try_from(done).is_ok_and(|d| d == executions)),
        );
    }

    /// The concurrent executions could not be measured.
    pub fn concurrent_failed(&mut self, why: &str) {
        self.add(
            "concurrent executions in one process",
            "all complete; p50/p99 and peak memory reported",
            format!("failed: {why}"),
            Some(false),
        );
    }

    /// The verdicts as a Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::from("| figure | target | measured | verdict |\n|---|---|---|---|\n");
        for c in &self.checks {
            let verdict = match c.pass {
                Some(true) => "pass",
                Some(false) => "**fail**",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {verdict} |",
                c.figure,
                c.target,
                c.measured.replace('|', "/")
            );
        }
        out
    }
}
