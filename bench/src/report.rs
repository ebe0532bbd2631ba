//! Figures, the median of several runs, and how they are shown: one table, one JSON line
//! per figure, and an SVG chart of latency percentiles and target ratios.

use crate::stats::{Summary, median};
use serde::Serialize;
use std::fmt::Write as _;

/// One measured quantity of one server, over every run.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// `rpc`, `fanout` or `idle`.
    pub scenario: &'static str,
    /// What is measured, e.g. `round_trips_per_s`.
    pub metric: &'static str,
    /// `wsx`, `chat` or `bare`.
    pub server: String,
    /// The unit of the values.
    pub unit: &'static str,
    /// One value per run.
    pub runs: Vec<f64>,
    /// The median of the runs: the figure reported.
    pub median: f64,
}

/// A figure of wsx divided by the same figure of the bare server, against its target.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared.
    pub name: &'static str,
    /// The median of the same-run ratios (or the absolute figure for the targets that
    /// have one).
    pub value: f64,
    /// Each run's ratio: wsx and bare measured back to back, under the same conditions on
    /// this noisy host. Empty for an absolute figure.
    pub runs: Vec<f64>,
    /// The median of wsx's runs over the median of bare's, for comparison: it pairs
    /// figures of different runs.
    pub of_medians: Option<f64>,
    /// `>=` or `<=`; `vs` for a comparison without a target.
    pub op: &'static str,
    /// The target.
    pub target: f64,
    /// Whether it is met.
    pub met: bool,
}

impl Ratio {
    /// An absolute figure that must be at least `target`.
    pub fn at_least(name: &'static str, value: f64, target: f64) -> Ratio {
        Ratio {
            name,
            value,
            runs: Vec::new(),
            of_medians: None,
            op: ">=",
            target,
            met: value >= target,
        }
    }

    /// A comparison without a target (a peer against wsx, a codec against another): it
    /// is reported, never met or missed. Give it its values with [`Ratio::same_run`].
    pub fn versus(name: &'static str) -> Ratio {
        Ratio {
            op: "vs",
            met: true,
            ..Ratio::at_least(name, f64::NAN, f64::NAN)
        }
    }

    /// Whether this is a comparison without a target.
    pub fn is_comparison(&self) -> bool {
        self.op == "vs"
    }

    /// An absolute figure that must be at most `target`.
    pub fn at_most(name: &'static str, value: f64, target: f64) -> Ratio {
        Ratio {
            met: value <= target,
            op: "<=",
            ..Ratio::at_least(name, value, target)
        }
    }

    /// `ours / bare` run by run (the issue's targets are "same run" ratios); the value
    /// is the median of those ratios. Runs missing on either side are left out.
    pub fn same_run(mut self, ours: &[f64], bare: &[f64]) -> Ratio {
        self.runs = ours
            .iter()
            .zip(bare)
            .filter(|&(_, &b)| b > 0.0)
            .map(|(a, b)| a / b)
            .collect();
        if !self.runs.is_empty() {
            self.of_medians = Some(median(ours) / median(bare));
            self.value = median(&self.runs);
            self.met = match self.op {
                ">=" => self.value >= self.target,
                "<=" => self.value <= self.target,
                _ => true,
            };
        }
        self
    }
}

/// The latency percentiles of one server in one scenario (medians over runs), for the
/// chart.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    /// `rpc` or `fanout`.
    pub scenario: &'static str,
    /// The server.
    pub server: String,
    /// Median over runs of each percentile.
    pub latency_us: Summary,
}

/// Everything one invocation measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// How the numbers were made: the command line, machine, runs.
    pub context: Vec<(String, String)>,
    /// Every figure.
    pub figures: Vec<Figure>,
    /// Every target.
    pub ratios: Vec<Ratio>,
    /// Latency distributions for the chart.
    pub distributions: Vec<Distribution>,
}

impl Report {
    /// Adds a figure from its per-run values.
    pub fn add(
        &mut self,
        scenario: &'static str,
        metric: &'static str,
        server: &str,
        unit: &'static str,
        runs: Vec<f64>,
    ) {
        let median = median(&runs);
        self.figures.push(Figure {
            scenario,
            metric,
            server: server.to_owned(),
            unit,
            runs,
            median,
        });
    }

    /// A figure's values, one per run (none if it was not measured).
    pub fn runs(&self, scenario: &str, metric: &str, server: &str) -> Vec<f64> {
        self.figures
            .iter()
            .find(|f| f.scenario == scenario && f.metric == metric && f.server == server)
            .map(|f| f.runs.clone())
            .unwrap_or_default()
    }

    /// The median of a figure, if measured.
    pub fn get(&self, scenario: &str, metric: &str, server: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.scenario == scenario && f.metric == metric && f.server == server)
            .map(|f| f.median)
    }

    /// The latency percentiles of a server: the median over runs of each.
    pub fn add_distribution(&mut self, scenario: &'static str, server: &str, runs: &[Summary]) {
        let m = |f: fn(&Summary) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let latency_us = Summary {
            count: runs.iter().map(|s| s.count).sum(),
            p50: m(|s| s.p50),
            p90: m(|s| s.p90),
            p99: m(|s| s.p99),
            p999: m(|s| s.p999),
            max: m(|s| s.max),
        };
        self.distributions.push(Distribution {
            scenario,
            server: server.to_owned(),
            latency_us,
        });
    }

    /// The table of figures and targets, for a terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<9} {:<26} {:<18} {:>14} {:<6}  runs",
            "scenario", "figure", "server", "median", "unit"
        );
        for f in &self.figures {
            let runs: Vec<String> = f.runs.iter().map(|v| short(*v)).collect();
            let _ = writeln!(
                out,
                "{:<9} {:<26} {:<18} {:>14} {:<6}  [{}]",
                f.scenario,
                f.metric,
                f.server,
                short(f.median),
                f.unit,
                runs.join(", ")
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<56} {:>10} {:>10}  result  (same-run ratios; ratio of the medians)",
            "target", "value", "target"
        );
        for r in &self.ratios {
            let runs: Vec<String> = r.runs.iter().map(|v| format!("{v:.3}")).collect();
            let detail = match r.of_medians {
                Some(m) => format!("  ([{}]; {m:.3})", runs.join(", ")),
                None => String::new(),
            };
            let (target, result) = if r.is_comparison() {
                (String::new(), "-")
            } else if r.met {
                (short(r.target), "met")
            } else {
                (short(r.target), "MISSED")
            };
            let _ = writeln!(
                out,
                "{:<56} {:>10.3} {:>3} {:<6}  {}{}",
                r.name, r.value, r.op, target, result, detail
            );
        }
        out
    }

    /// One JSON object per figure and per target, one per line.
    pub fn json_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for f in &self.figures {
            lines.push(serde_json::json!({ "kind": "figure", "scenario": f.scenario, "metric": f.metric, "server": f.server, "median": f.median, "unit": f.unit, "runs": f.runs }).to_string());
        }
        for r in &self.ratios {
            lines.push(serde_json::json!({ "kind": "target", "name": r.name, "value": r.value, "runs": r.runs, "of_medians": r.of_medians, "op": r.op, "target": r.target, "met": r.met }).to_string());
        }
        lines
    }

    /// An SVG chart: latency percentiles per scenario (log scale), and each target's
    /// value against its bound.
    pub fn svg(&self) -> String {
        let scenarios: Vec<&'static str> = {
            let mut s: Vec<&'static str> = self.distributions.iter().map(|d| d.scenario).collect();
            s.dedup();
            s
        };
        let panel_w = 420.0;
        let panel_h = 260.0;
        let width = 40.0 + panel_w * scenarios.len().max(1) as f64 + 20.0;
        let most = scenarios
            .iter()
            .map(|s| {
                self.distributions
                    .iter()
                    .filter(|d| d.scenario == *s)
                    .count()
            })
            .max()
            .unwrap_or(0);
        // Room under each panel for one legend line per server.
        let panel_h = panel_h + 14.0 * most.saturating_sub(4) as f64;
        let ratio_h = 40.0 + 28.0 * self.ratios.len() as f64;
        let height = 60.0 + panel_h + 60.0 + ratio_h;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = write!(
            svg,
            r#"<text x="20" y="24" font-size="16">wsx vs bare axum and the peers: latency percentiles (µs, log scale), targets and comparisons</text>"#
        );
        let colors = [
            "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf",
        ];
        let labels = ["p50", "p90", "p99", "p99.9", "max"];
        for (i, scenario) in scenarios.iter().enumerate() {
            let x0 = 40.0 + panel_w * i as f64;
            let y0 = 50.0;
            let (pw, ph) = (panel_w - 60.0, 210.0);
            let dists: Vec<&Distribution> = self
                .distributions
                .iter()
                .filter(|d| d.scenario == *scenario)
                .collect();
            let values = |d: &Distribution| {
                let s = d.latency_us;
                [s.p50, s.p90, s.p99, s.p999, s.max]
            };
            let max = dists.iter().flat_map(|d| values(d)).fold(1.0f64, f64::max);
            let min = dists
                .iter()
                .flat_map(|d| values(d))
                .filter(|v| *v > 0.0)
                .fold(max, f64::min)
                .max(1.0);
            let (lo, hi) = (
                min.log10().floor(),
                max.log10().ceil().max(min.log10().floor() + 1.0),
            );
            let y = |v: f64| y0 + ph - (v.max(1.0).log10() - lo) / (hi - lo) * ph;
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" font-size="14">{scenario}</text>"#,
                x0 + 30.0,
                y0 - 8.0
            );
            let _ = write!(
                svg,
                r##"<rect x="{}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##,
                x0 + 30.0
            );
            let mut decade = lo;
            while decade <= hi {
                let yy = y(10f64.powf(decade));
                let _ = write!(
                    svg,
                    r##"<line x1="{}" x2="{}" y1="{yy}" y2="{yy}" stroke="#eee"/>"##,
                    x0 + 30.0,
                    x0 + 30.0 + pw
                );
                let _ = write!(
                    svg,
                    r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                    x0 + 26.0,
                    yy + 4.0,
                    short(10f64.powf(decade))
                );
                decade += 1.0;
            }
            let step = pw / (labels.len() as f64 - 1.0 + 1.0);
            for (k, label) in labels.iter().enumerate() {
                let xx = x0 + 30.0 + step * (k as f64 + 0.5);
                let _ = write!(
                    svg,
                    r#"<text x="{xx}" y="{}" text-anchor="middle">{label}</text>"#,
                    y0 + ph + 16.0
                );
            }
            for (n, d) in dists.iter().enumerate() {
                let color = colors[n % colors.len()];
                let points: Vec<String> = values(d)
                    .iter()
                    .enumerate()
                    .map(|(k, v)| {
                        format!("{:.1},{:.1}", x0 + 30.0 + step * (k as f64 + 0.5), y(*v))
                    })
                    .collect();
                let _ = write!(
                    svg,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                    points.join(" ")
                );
                for p in &points {
                    let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                    let _ = write!(svg, r#"<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>"#);
                }
                let _ = write!(
                    svg,
                    r#"<text x="{}" y="{}" fill="{color}">{} (p50 {} µs, p99 {} µs)</text>"#,
                    x0 + 36.0,
                    y0 + ph + 34.0 + 14.0 * n as f64,
                    d.server,
                    short(d.latency_us.p50),
                    short(d.latency_us.p99)
                );
            }
        }
        let ry0 = 60.0 + panel_h + 60.0;
        let _ = write!(
            svg,
            r#"<text x="20" y="{}" font-size="14">same-run ratios (bar = measured, tick = target; grey: a comparison without one)</text>"#,
            ry0 - 10.0
        );
        let scale_max = self
            .ratios
            .iter()
            .filter(|r| r.name.contains('/'))
            .flat_map(|r| [r.value, r.target])
            .filter(|v| v.is_finite())
            .fold(2.0f64, f64::max);
        let bar_w = width - 360.0;
        for (k, r) in self
            .ratios
            .iter()
            .filter(|r| r.name.contains('/'))
            .enumerate()
        {
            let yy = ry0 + 28.0 * k as f64;
            let color = match (r.is_comparison(), r.met) {
                (true, _) => "#999999",
                (false, true) => "#2ca02c",
                (false, false) => "#d62728",
            };
            let w = (r.value / scale_max).clamp(0.0, 1.0) * bar_w;
            let _ = write!(svg, r#"<text x="20" y="{}">{}</text>"#, yy + 14.0, r.name);
            let _ = write!(
                svg,
                r#"<rect x="300" y="{yy}" width="{w:.1}" height="18" fill="{color}"/>"#
            );
            let bound = if r.is_comparison() {
                String::new()
            } else {
                let tx = 300.0 + r.target / scale_max * bar_w;
                let _ = write!(
                    svg,
                    r#"<line x1="{tx:.1}" x2="{tx:.1}" y1="{}" y2="{}" stroke="black" stroke-width="2"/>"#,
                    yy - 3.0,
                    yy + 21.0
                );
                format!(" {} {}", r.op, short(r.target))
            };
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}">{:.2}{bound}</text>"#,
                306.0 + w,
                yy + 14.0,
                r.value,
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// A number with few digits: 1234567 → 1.23M, 0.8123 → 0.812.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_run_ratios_pair_each_run_with_its_own_baseline() {
        // Run 2 is slow for both servers; paired with its own baseline it still gives
        // 0.8, where the ratio of the medians is 0.75.
        let r = Ratio::at_least("x / bare", f64::NAN, 0.75)
            .same_run(&[3.0, 2.0, 4.0], &[4.0, 2.5, 5.0]);
        assert_eq!(r.runs, [0.75, 0.8, 0.8]);
        assert_eq!(r.value, 0.8);
        assert_eq!(r.of_medians, Some(3.0 / 4.0));
        assert!(r.met);

        let r = Ratio::at_most("p99 / bare", f64::NAN, 1.5).same_run(&[4.0, 9.0], &[2.0, 0.0]);
        assert_eq!(r.runs, [2.0], "a run without a baseline is left out");
        assert!(!r.met);

        let none = Ratio::at_least("nothing / bare", f64::NAN, 0.9).same_run(&[], &[]);
        assert!(none.value.is_nan() && !none.met, "no runs: not met");
    }
}
