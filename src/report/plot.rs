//! Line charts as SVG, for sweeps: one line per series over a numeric x
//! axis, linear or logarithmic axes, ticks at round values. Pure: the
//! caller writes the string wherever it wants.

use super::csv::Table;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    /// Points in any order; they are drawn sorted by x.
    pub points: Vec<(f64, f64)>,
}

#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
    /// Names of the x positions 0, 1, 2, ... when x is a text column (a
    /// sweep's `overrides`, say); empty for a numeric x.
    pub x_categories: Vec<String>,
}

const H: f64 = 440.0;
const LEFT: f64 = 80.0;
/// Plot area width; the legend to its right grows with the longest label.
const PLOT_W: f64 = 450.0;
/// Rough width of a 12 px sans-serif character, for sizing the legend.
const CHAR_W: f64 = 7.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
/// Colour-blind-safe palette (Okabe & Ito), then repeated.
const COLOURS: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

/// One axis: its data range and how values map onto it.
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool) -> Axis {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (if log { 1.0 } else { 0.0 }, 1.0);
        }
        if log {
            // The data's own range, a little wider so end points are not on
            // the frame.
            if hi <= lo {
                (lo, hi) = (lo / 2.0, hi * 2.0);
            }
            let pad = (hi / lo).powf(0.03);
            (lo, hi) = (lo / pad, hi * pad);
        } else {
            // Start at zero when the data is all on one side of it, so
            // ratios read off the chart are honest.
            if lo > 0.0 {
                lo = 0.0;
            }
            if hi < 0.0 {
                hi = 0.0;
            }
            if hi <= lo {
                hi = lo + 1.0;
            }
            let step = nice_step((hi - lo) / 5.0);
            lo = (lo / step).floor() * step;
            hi = (hi / step).ceil() * step;
        }
        Axis { lo, hi, log }
    }

    /// Position of `v` in [0, 1] along the axis.
    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            // 1, 2, 5 in each decade over a short range, powers of ten
            // over a long one.
            let (a, b) = (self.lo.log10().floor() as i32, self.hi.log10().ceil() as i32);
            let steps: &[f64] = if (self.hi / self.lo).log10() <= 3.0 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            (a..=b)
                .flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e)))
                .filter(|v| *v >= self.lo && *v <= self.hi)
                .collect()
        } else {
            let step = nice_step((self.hi - self.lo) / 5.0);
            let n = ((self.hi - self.lo) / step).round() as i64;
            (0..=n).map(|i| self.lo + step * i as f64).collect()
        }
    }

    fn plottable(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|s| *s >= raw * 0.999).unwrap_or(10.0 * p)
}

/// A tick label: short, with SI suffixes for large and small numbers.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = match a {
        _ if a == 0.0 => (v, ""),
        _ if a >= 1e9 => (v / 1e9, "G"),
        _ if a >= 1e6 => (v / 1e6, "M"),
        _ if a >= 1e3 => (v / 1e3, "k"),
        // Fractions read better as decimals (0.25, not 250m).
        _ if a >= 1e-3 => (v, ""),
        _ if a >= 1e-6 => (v * 1e6, "µ"),
        _ => (v * 1e9, "n"),
    };
    let s = format!("{scaled:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Chart {
    /// The chart as a standalone SVG document.
    pub fn svg(&self) -> String {
        let categorical = !self.x_categories.is_empty();
        let xs = if categorical {
            Axis { lo: -0.5, hi: self.x_categories.len() as f64 - 0.5, log: false }
        } else {
            Axis::new(self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)), self.log_x)
        };
        let ys = Axis::new(self.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)), self.log_y);
        let longest = self.series.iter().map(|s| s.label.chars().count()).max().unwrap_or(0) as f64;
        let legend = (longest * CHAR_W + 50.0).max(140.0);
        let (pw, ph) = (PLOT_W, H - TOP - BOTTOM);
        let w = (LEFT + pw + legend).round();
        let px = |v: f64| LEFT + xs.frac(v) * pw;
        let py = |v: f64| TOP + (1.0 - ys.frac(v)) * ph;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{H}" viewBox="0 0 {w} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{w}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
            LEFT + pw / 2.0,
            escape(&self.title)
        );
        // Grid and ticks.
        let x_ticks: Vec<f64> =
            if categorical { (0..self.x_categories.len()).map(|i| i as f64).collect() } else { xs.ticks() };
        for t in x_ticks {
            let x = px(t);
            let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##, TOP + ph);
            let label = if categorical { escape(&self.x_categories[t as usize]) } else { tick_label(t) };
            let _ = writeln!(s, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#, TOP + ph + 16.0,);
        }
        for t in ys.ticks() {
            let y = py(t);
            let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##, LEFT + pw);
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                tick_label(t)
            );
        }
        let _ = writeln!(s, r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}{}</text>"#,
            LEFT + pw / 2.0,
            H - 18.0,
            escape(&self.x_label),
            if self.log_x { " (log)" } else { "" }
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}{}</text>"#,
            TOP + ph / 2.0,
            escape(&self.y_label),
            if self.log_y { " (log)" } else { "" }
        );
        // Lines, markers and legend.
        for (i, ser) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let mut pts: Vec<(f64, f64)> =
                ser.points.iter().copied().filter(|&(x, y)| xs.plottable(x) && ys.plottable(y)).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            if pts.len() > 1 {
                let path: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                    path.join(" ")
                );
            }
            for &(x, y) in &pts {
                let _ = writeln!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#, px(x), py(y));
            }
            let ly = TOP + 10.0 + 18.0 * i as f64;
            let lx = LEFT + pw + 14.0;
            let _ = writeln!(
                s,
                r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"/>"#,
                lx + 18.0
            );
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, lx + 24.0, ly + 4.0, escape(&ser.label));
        }
        s.push_str("</svg>\n");
        s
    }
}

/// What to draw from a table (a sweep's CSV).
#[derive(Clone, Debug, Default)]
pub struct Select {
    pub x: String,
    pub y: String,
    /// Columns whose values, joined, name a line (none: one line).
    pub series: Vec<String>,
    /// Keep only records where each column has this value.
    pub filters: Vec<(String, String)>,
    pub log_x: bool,
    pub log_y: bool,
    pub title: Option<String>,
}

/// A chart from `table`, and how many selected records had no y value
/// (points that did not fit or failed, say). Errors name the line.
pub fn from_table(table: &Table, sel: &Select) -> Result<(Chart, usize), String> {
    let col = |name: &str| {
        table.column(name).ok_or_else(|| format!("no column `{name}`; the columns are: {}", table.header.join(", ")))
    };
    let (xi, yi) = (col(&sel.x)?, col(&sel.y)?);
    let si: Vec<usize> = sel.series.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
    let fi: Vec<(usize, &str)> =
        sel.filters.iter().map(|(c, v)| Ok((col(c)?, v.as_str()))).collect::<Result<_, String>>()?;
    /// A line being gathered: its first record's index, points, and the
    /// line number of each point's record.
    struct Gather {
        first: usize,
        points: Vec<(f64, f64)>,
        lines: Vec<usize>,
    }
    // A text x column (a sweep's `overrides`): positions in order of first
    // appearance among the selected records.
    let keep = |r: &[String]| fi.iter().all(|&(c, v)| r[c] == v);
    let selected = || table.records.iter().filter(|(_, r)| keep(r));
    let mut categories: Vec<String> = Vec::new();
    if selected().any(|(_, r)| r[xi].parse::<f64>().is_err()) {
        if sel.log_x {
            return Err(format!("--log-x needs a numeric x column; `{}` holds text", sel.x));
        }
        for (_, r) in selected() {
            if !categories.contains(&r[xi]) {
                categories.push(r[xi].clone());
            }
        }
    }
    let mut lines: BTreeMap<String, Gather> = BTreeMap::new();
    let mut skipped = 0;
    for (order, (line, r)) in table.records.iter().enumerate() {
        if !keep(r) {
            continue;
        }
        let num = |i: usize, what: &str| {
            r[i].parse::<f64>()
                .map_err(|_| format!("line {line}: {what} `{}` is `{}`, expected a number", table.header[i], r[i]))
        };
        let x = match categories.iter().position(|c| *c == r[xi]) {
            Some(i) => i as f64,
            None => num(xi, "x column")?,
        };
        if r[yi].is_empty() {
            skipped += 1;
            continue;
        }
        let y = num(yi, "y column")?;
        let label = si.iter().map(|&i| format!("{}={}", table.header[i], r[i])).collect::<Vec<_>>().join(" ");
        let entry = lines.entry(label).or_insert(Gather { first: order, points: Vec::new(), lines: Vec::new() });
        if let Some(k) = entry.points.iter().position(|p| p.0 == x) {
            return Err(format!(
                "lines {} and {line} give two points at {}={} on the same line; select one with --where COLUMN=VALUE or split lines with --series",
                entry.lines[k], sel.x, r[xi]
            ));
        }
        entry.points.push((x, y));
        entry.lines.push(*line);
    }
    if lines.is_empty() {
        return Err("no records left to plot (check --where)".into());
    }
    // Lines in the order their first record appears, as the sweep ordered them.
    let mut series: Vec<(usize, Series)> =
        lines.into_iter().map(|(label, g)| (g.first, Series { label, points: g.points })).collect();
    series.sort_by_key(|s| s.0);
    let chart = Chart {
        title: sel.title.clone().unwrap_or_else(|| format!("{} vs {}", sel.y, sel.x)),
        x_label: sel.x.clone(),
        y_label: sel.y.clone(),
        log_x: sel.log_x,
        log_y: sel.log_y,
        series: series.into_iter().map(|s| s.1).collect(),
        x_categories: categories,
    };
    Ok((chart, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_lines_and_rejects_ambiguous_points() {
        let t =
            super::super::csv::parse("chip,batch,tps,ctx\na,1,10,1\na,8,40,1\nb,1,5,1\nb,8,,1\na,8,41,2\n").unwrap();
        let mut sel = Select { x: "batch".into(), y: "tps".into(), series: vec!["chip".into()], ..Default::default() };
        let err = from_table(&t, &sel).unwrap_err();
        assert!(err.contains("lines 3 and 6"), "{err}");
        sel.filters.push(("ctx".into(), "1".into()));
        let (c, skipped) = from_table(&t, &sel).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(c.series.len(), 2);
        assert_eq!(c.series[0].label, "chip=a");
        assert_eq!(c.series[0].points, vec![(1.0, 10.0), (8.0, 40.0)]);
        // A text x column is categorical, in order of appearance.
        let t2 = super::super::csv::parse("net,tps\nmesh,3\ntorus,5\n").unwrap();
        let (c2, _) = from_table(&t2, &Select { x: "net".into(), y: "tps".into(), ..Default::default() }).unwrap();
        assert_eq!(c2.x_categories, ["mesh", "torus"]);
        assert_eq!(c2.series[0].points, vec![(0.0, 3.0), (1.0, 5.0)]);
        assert!(c2.svg().contains(">torus</text>"));
        let log = Select { x: "net".into(), y: "tps".into(), log_x: true, ..Default::default() };
        assert!(from_table(&t2, &log).unwrap_err().contains("--log-x needs a numeric x column"));
        sel.y = "nope".into();
        assert!(from_table(&t, &sel).unwrap_err().contains("the columns are: chip, batch, tps, ctx"));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(1.2), 2.0);
        assert_eq!(nice_step(730.0), 1000.0);
    }

    #[test]
    fn labels_use_si_suffixes() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2500.0), "2.5k");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(0.004), "0.004");
        assert_eq!(tick_label(0.0005), "500µ");
        assert_eq!(tick_label(1e6), "1M");
    }

    #[test]
    fn axes_cover_the_data() {
        let a = Axis::new([3.0, 47.0].into_iter(), false);
        assert_eq!((a.lo, a.hi), (0.0, 50.0));
        let l = Axis::new([1.0, 128.0].into_iter(), true);
        assert!(l.lo < 1.0 && l.hi > 128.0 && l.hi < 150.0, "{} {}", l.lo, l.hi);
        assert!((l.frac(l.lo * 10.0) - 1.0 / (l.hi / l.lo).log10()).abs() < 1e-12);
        assert_eq!(l.ticks(), vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
    }

    #[test]
    fn points_outside_a_log_axis_are_skipped() {
        let c = Chart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_x: true,
            log_y: false,
            series: vec![Series { label: "a<b".into(), points: vec![(0.0, 1.0), (1.0, 2.0), (10.0, 3.0)] }],
            x_categories: Vec::new(),
        };
        let svg = c.svg();
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("a&lt;b"));
    }
}
