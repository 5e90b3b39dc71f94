//! The requests a serving run replays: a seeded synthetic generator
//! (Poisson or gamma arrivals; fixed, uniform or log-normal lengths) and a
//! reader for request traces in CSV (arch/serve.md, "Requests").

use super::ServeError;
use crate::report::csv;
use crate::rng::Rng;
use std::str::FromStr;

/// One request: when it arrives, how long its prompt is, how many tokens
/// it generates.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub id: u64,
    pub arrival_seconds: f64,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    /// Where it came from (`FILE:LINE` of a trace), for messages.
    pub source: Option<String>,
}

impl Request {
    /// Tokens of KV cache the request holds when it finishes.
    pub fn final_context(&self) -> u64 {
        self.prompt_tokens + self.output_tokens
    }
    /// `FILE:LINE`, or `request N` for a generated one.
    pub fn origin(&self) -> String {
        self.source.clone().unwrap_or_else(|| format!("request {}", self.id))
    }
}

/// The arrival process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrivals {
    /// Exponential gaps.
    Poisson,
    /// Gamma-distributed gaps with this coefficient of variation (1:
    /// Poisson; < 1 more regular, > 1 burstier; 0: evenly spaced).
    Gamma { cv: f64 },
}

impl FromStr for Arrivals {
    type Err = String;
    /// `poisson`, `gamma:CV` or `constant` (gamma with CV 0).
    fn from_str(s: &str) -> Result<Self, String> {
        let max = crate::limits::MAX_ARRIVAL_CV;
        let expected = format!(
            "expected `poisson`, `constant` or `gamma:CV` (CV in 0..={max}, the gaps' coefficient of variation; \
             arch/limits.md)"
        );
        let s_ = crate::limits::excerpt(s);
        match s {
            "poisson" => Ok(Arrivals::Poisson),
            "constant" => Ok(Arrivals::Gamma { cv: 0.0 }),
            _ => {
                let Some(cv) = s.strip_prefix("gamma:") else { return Err(format!("`{s_}`: {expected}")) };
                match cv.parse::<f64>() {
                    Ok(cv) if (0.0..=max).contains(&cv) => Ok(Arrivals::Gamma { cv }),
                    _ => Err(format!("`{s_}`: {expected}")),
                }
            }
        }
    }
}

/// A distribution of token counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lengths {
    Fixed(u64),
    /// Uniform over `lo..=hi`.
    Uniform {
        lo: u64,
        hi: u64,
    },
    /// Log-normal with this mean (tokens) and sigma of the underlying
    /// normal, rounded to whole tokens and clamped to `1..=max`.
    LogNormal {
        mean: f64,
        sigma: f64,
        max: u64,
    },
}

impl FromStr for Lengths {
    type Err = String;
    /// `N`, `uniform:LO:HI` or `lognormal:MEAN:SIGMA[:MAX]` (MAX default
    /// 8 x MEAN).
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "expected a token count N, `uniform:LO:HI` or `lognormal:MEAN:SIGMA[:MAX]`";
        let s_ = crate::limits::excerpt(s);
        let bad = |why: &str| format!("`{s_}`: {why} ({expected})");
        // Every count a request may have, as `--context` (arch/limits.md).
        let most = crate::limits::MAX_REQUEST_TOKENS;
        let int = |v: &str| match v.parse::<u64>() {
            Ok(n) if n > most => Err(bad(&format!("{n} tokens is more than the {most} a request may have"))),
            Ok(n) => Ok(n),
            Err(_) => Err(bad(&format!("`{}` is not a whole number of tokens", crate::limits::excerpt(v)))),
        };
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [n] => {
                let n = int(n)?;
                if n == 0 {
                    return Err(bad("at least 1 token"));
                }
                Ok(Lengths::Fixed(n))
            }
            ["uniform", lo, hi] => {
                let (lo, hi) = (int(lo)?, int(hi)?);
                if lo == 0 || hi < lo {
                    return Err(bad("need 1 <= LO <= HI"));
                }
                Ok(Lengths::Uniform { lo, hi })
            }
            ["lognormal", mean, sigma, rest @ ..] if rest.len() <= 1 => {
                let num = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite());
                let (Some(mean), Some(sigma)) = (num(mean), num(sigma)) else {
                    return Err(bad("MEAN and SIGMA must be numbers"));
                };
                if mean < 1.0 || sigma < 0.0 {
                    return Err(bad("need MEAN >= 1 and SIGMA >= 0"));
                }
                let widest = crate::limits::MAX_LENGTH_SIGMA;
                if sigma > widest {
                    return Err(bad(&format!(
                        "SIGMA is more than {widest} (a coefficient of variation of 90; wider, every draw is 1 \
                         token; arch/limits.md)"
                    )));
                }
                if mean > most as f64 {
                    return Err(bad(&format!("MEAN is more than the {most} tokens a request may have")));
                }
                let max = match rest.first() {
                    Some(m) => int(m)?,
                    None => ((8.0 * mean).ceil() as u64).min(most),
                };
                if (max as f64) < mean {
                    return Err(bad("MAX must be at least MEAN"));
                }
                Ok(Lengths::LogNormal { mean, sigma, max })
            }
            _ => Err(format!("`{s_}`: {expected}")),
        }
    }
}

impl Lengths {
    /// The largest value this distribution can give.
    pub fn max(&self) -> u64 {
        match *self {
            Lengths::Fixed(n) => n,
            Lengths::Uniform { hi, .. } => hi,
            Lengths::LogNormal { max, .. } => max,
        }
    }
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        match *self {
            Lengths::Fixed(n) => n,
            Lengths::Uniform { lo, hi } => lo + rng.below(hi - lo + 1),
            Lengths::LogNormal { mean, sigma, max } => {
                let mu = mean.ln() - sigma * sigma / 2.0;
                let x = (mu + sigma * normal(rng)).exp();
                (x.round() as u64).clamp(1, max)
            }
        }
    }
}

/// A standard normal deviate (Box-Muller; one of the pair, so each draw
/// uses exactly two uniforms and streams stay aligned).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.unit(); // (0, 1]
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Gamma(shape, 1) deviate (Marsaglia and Tsang; shape < 1 by boosting).
fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.unit();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.unit();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

impl Arrivals {
    /// A gap between arrivals at rate 1 (mean 1).
    fn unit_gap(&self, rng: &mut Rng) -> f64 {
        match *self {
            Arrivals::Poisson => -(1.0 - rng.unit()).ln(),
            Arrivals::Gamma { cv: 0.0 } => 1.0,
            // Past a shape of 1e8 Marsaglia and Tsang's test cancels to noise
            // (and at an infinite shape never accepts): there Gamma(k) / k is
            // N(1, 1/k) to within its skew, 2 / sqrt(k) < 2e-4.
            Arrivals::Gamma { cv } if cv < 1e-4 => (1.0 + cv * normal(rng)).max(0.0),
            Arrivals::Gamma { cv } => {
                let shape = 1.0 / (cv * cv);
                gamma(rng, shape) / shape
            }
        }
    }
}

/// A synthetic request stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Generator {
    pub arrivals: Arrivals,
    /// Requests per second.
    pub rate: f64,
    pub prompt: Lengths,
    pub output: Lengths,
    pub seed: u64,
}

impl Generator {
    /// `n` requests, the first arriving at time 0. Gaps and lengths come
    /// from separate streams of the seed, and gaps are drawn at rate 1 and
    /// divided by the rate: the same seed at another rate gives the same
    /// requests, closer together or further apart (common random numbers,
    /// so a rate search compares like with like).
    pub fn generate(&self, n: u64) -> Result<Vec<Request>, ServeError> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(ServeError::Usage(format!(
                "--rate must be a positive number of requests/s, found {}",
                self.rate
            )));
        }
        let mut gaps = Rng::new(self.seed);
        let mut prompts = Rng::new(self.seed ^ 0x5052_4f4d_5054); // "PROMPT"
        let mut outputs = Rng::new(self.seed ^ 0x4f55_5450_5554); // "OUTPUT"
        let mut t = 0.0;
        let mut out = Vec::with_capacity(n as usize);
        for id in 0..n {
            if id > 0 {
                t += self.arrivals.unit_gap(&mut gaps);
            }
            let at = t / self.rate;
            if at > crate::limits::MAX_ARRIVAL_SPAN_S {
                return Err(ServeError::Usage(format!(
                    "--rate {:e} puts request {id} {} s after the first, more than the 2^25 s (388 days) \
                     arrivals may span (arch/limits.md): a higher --rate or fewer --requests",
                    self.rate,
                    crate::units::near(at)
                )));
            }
            out.push(Request {
                id,
                arrival_seconds: at,
                prompt_tokens: self.prompt.sample(&mut prompts),
                output_tokens: self.output.sample(&mut outputs),
                source: None,
            });
        }
        Ok(out)
    }
}

/// Column names a trace may use for each field: tilesim's own, then those
/// of the Azure LLM inference traces (AzurePublicDataset).
const TIME_COLUMNS: [&str; 2] = ["arrival_seconds", "TIMESTAMP"];
const PROMPT_COLUMNS: [&str; 2] = ["prompt_tokens", "ContextTokens"];
const OUTPUT_COLUMNS: [&str; 2] = ["output_tokens", "GeneratedTokens"];

/// Reads a request trace (arch/serve.md, "Trace files"): a CSV with a
/// header naming an arrival time column (`arrival_seconds`, or `TIMESTAMP`
/// as seconds or `YYYY-MM-DD HH:MM:SS[.fffffff]`), a prompt-length column
/// (`prompt_tokens` or `ContextTokens`) and an output-length column
/// (`output_tokens` or `GeneratedTokens`); other columns are ignored. Rows
/// must be in arrival order; times are taken relative to the first row.
/// At most `limit` rows are read. Errors name `name:line`.
pub fn parse_trace(name: &str, text: &str, limit: Option<u64>) -> Result<Vec<Request>, ServeError> {
    let at = |line: usize| format!("{name}:{line}");
    let table = csv::parse(text).map_err(|(line, m)| ServeError::Input { at: at(line), message: m })?;
    let find = |names: &[&str]| names.iter().find_map(|n| table.column(n));
    let missing = |names: &[&str], what: &str| ServeError::Input {
        at: at(1),
        message: format!(
            "the header has no {what} column (expected one of {}; found {})",
            names.join(", "),
            table.header.join(", ")
        ),
    };
    let time = find(&TIME_COLUMNS).ok_or_else(|| missing(&TIME_COLUMNS, "arrival time"))?;
    let prompt = find(&PROMPT_COLUMNS).ok_or_else(|| missing(&PROMPT_COLUMNS, "prompt length"))?;
    let output = find(&OUTPUT_COLUMNS).ok_or_else(|| missing(&OUTPUT_COLUMNS, "output length"))?;
    let mut out = Vec::new();
    let mut first: Option<f64> = None;
    let mut last = f64::NEG_INFINITY;
    for (line, rec) in &table.records {
        if limit.is_some_and(|l| out.len() as u64 >= l) {
            break;
        }
        let bad = |message: String| ServeError::Input { at: at(*line), message };
        let t = parse_time(rec[time].trim()).map_err(|m| bad(format!("{}: {m}", table.header[time])))?;
        if t < last {
            return Err(bad(format!(
                "{} goes back in time ({} after {}): rows must be in arrival order",
                table.header[time],
                rec[time].trim(),
                last - first.unwrap_or(0.0)
            )));
        }
        last = t;
        let t0 = *first.get_or_insert(t);
        if t - t0 > crate::limits::MAX_ARRIVAL_SPAN_S {
            return Err(bad(format!(
                "{}: {} is {} s after the first request, more than the 2^25 s (388 days) arrivals may span \
                 (arch/limits.md)",
                table.header[time],
                crate::limits::excerpt(rec[time].trim()),
                crate::units::near(t - t0)
            )));
        }
        let most = crate::limits::MAX_REQUEST_TOKENS;
        let tokens = |col: usize, what: &str| -> Result<u64, ServeError> {
            let v = rec[col].trim();
            match v.parse::<u64>() {
                Ok(n) if n > most => Err(bad(format!(
                    "{}: {what} of {n} tokens is more than the {most} a request may have (arch/limits.md)",
                    table.header[col]
                ))),
                Ok(n) if n >= 1 => Ok(n),
                Ok(_) => Err(bad(format!("{}: {what} must be at least 1 token, found 0", table.header[col]))),
                Err(_) => Err(bad(format!("{}: expected a whole number of tokens, found `{v}`", table.header[col]))),
            }
        };
        out.push(Request {
            id: out.len() as u64,
            arrival_seconds: t - t0,
            prompt_tokens: tokens(prompt, "a prompt")?,
            output_tokens: tokens(output, "an output")?,
            source: Some(at(*line)),
        });
    }
    if out.is_empty() {
        return Err(ServeError::Input { at: at(1), message: "no requests: expected rows after the header".into() });
    }
    Ok(out)
}

/// Seconds from a number of seconds, or from `YYYY-MM-DD HH:MM:SS[.f]`
/// (a space or `T` between date and time; no time zone: all rows share
/// one) as seconds since 1970-01-01.
fn parse_time(s: &str) -> Result<f64, String> {
    if let Ok(v) = s.parse::<f64>() {
        return if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("expected a time in seconds (>= 0), found `{s}`"))
        };
    }
    let expected = || format!("expected seconds or a timestamp like `2023-11-16 18:15:46.6805900`, found `{s}`");
    let (date, time) = s.split_once([' ', 'T']).ok_or_else(expected)?;
    let d: Vec<&str> = date.split('-').collect();
    let tm: Vec<&str> = time.trim_end_matches('Z').split(':').collect();
    if d.len() != 3 || tm.len() != 3 {
        return Err(expected());
    }
    let num = |v: &str| v.parse::<i64>().map_err(|_| expected());
    let (y, mo, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let (h, mi) = (num(tm[0])?, num(tm[1])?);
    let sec: f64 = tm[2].parse().map_err(|_| expected())?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || !(0..24).contains(&h) || !(0..60).contains(&mi) {
        return Err(expected());
    }
    if !(0.0..61.0).contains(&sec) {
        return Err(expected());
    }
    Ok(days_from_civil(y, mo, day) as f64 * 86400.0 + (h * 3600 + mi * 60) as f64 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_arrival_specs() {
        assert_eq!("512".parse::<Lengths>().unwrap(), Lengths::Fixed(512));
        assert_eq!("uniform:10:20".parse::<Lengths>().unwrap(), Lengths::Uniform { lo: 10, hi: 20 });
        assert_eq!(
            "lognormal:100:0.5".parse::<Lengths>().unwrap(),
            Lengths::LogNormal { mean: 100.0, sigma: 0.5, max: 800 }
        );
        for bad in ["0", "x", "uniform:5:2", "lognormal:0:1", "lognormal:10:-1", "uniform:1", "normal:1:2"] {
            assert!(bad.parse::<Lengths>().is_err(), "{bad}");
        }
        assert_eq!("poisson".parse::<Arrivals>().unwrap(), Arrivals::Poisson);
        assert_eq!("gamma:2".parse::<Arrivals>().unwrap(), Arrivals::Gamma { cv: 2.0 });
        assert_eq!("constant".parse::<Arrivals>().unwrap(), Arrivals::Gamma { cv: 0.0 });
        assert!("gamma:-1".parse::<Arrivals>().is_err());
        for bad in ["gamma:100.001", "gamma:1e300", "gamma:nan", "gamma:inf"] {
            let e = bad.parse::<Arrivals>().unwrap_err();
            assert!(e.contains("0..=100"), "{bad}: {e}");
        }
    }

    /// A CV of 1e300 once made NaN gaps (the shape 1 / CV^2 underflowed to
    /// 0) and one of 1e-300 a sampler that never returned (an infinite
    /// shape): every CV the parser accepts gives finite, ordered arrivals
    /// with about the mean gap.
    #[test]
    fn extreme_arrival_cvs_give_finite_gaps() {
        for cv in ["gamma:1e-300", "gamma:1e-9", "gamma:1e-4", "gamma:100"] {
            let arrivals = cv.parse::<Arrivals>().unwrap();
            let g = Generator { arrivals, rate: 2.0, prompt: Lengths::Fixed(1), output: Lengths::Fixed(1), seed: 3 };
            let r = g.generate(2_000).unwrap();
            assert!(r.iter().all(|q| q.arrival_seconds.is_finite()), "{cv}");
            assert!(r.windows(2).all(|w| w[0].arrival_seconds <= w[1].arrival_seconds), "{cv}");
            if cv != "gamma:100" {
                let last = r.last().unwrap().arrival_seconds;
                assert!((last - 1999.0 / 2.0).abs() < 1.0, "{cv}: last arrival {last}");
            }
        }
    }

    fn moments(xs: &[f64]) -> (f64, f64) {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        (m, v.sqrt() / m)
    }

    #[test]
    fn arrival_processes_have_their_rate_and_variability() {
        for (arr, cv) in
            [(Arrivals::Poisson, 1.0), (Arrivals::Gamma { cv: 0.5 }, 0.5), (Arrivals::Gamma { cv: 2.0 }, 2.0)]
        {
            let g =
                Generator { arrivals: arr, rate: 4.0, prompt: Lengths::Fixed(1), output: Lengths::Fixed(1), seed: 7 };
            let r = g.generate(40_000).unwrap();
            let gaps: Vec<f64> = r.windows(2).map(|w| w[1].arrival_seconds - w[0].arrival_seconds).collect();
            let (mean, got_cv) = moments(&gaps);
            assert!((mean - 0.25).abs() < 0.25 * 0.03, "{arr:?}: mean gap {mean}");
            assert!((got_cv - cv).abs() < cv * 0.05, "{arr:?}: cv {got_cv}");
        }
        let g = Generator {
            arrivals: Arrivals::Gamma { cv: 0.0 },
            rate: 2.0,
            prompt: Lengths::Fixed(1),
            output: Lengths::Fixed(1),
            seed: 0,
        };
        let r = g.generate(3).unwrap();
        assert_eq!(r.iter().map(|r| r.arrival_seconds).collect::<Vec<_>>(), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn lognormal_lengths_have_their_mean() {
        let l = Lengths::LogNormal { mean: 300.0, sigma: 0.6, max: 100_000 };
        let mut rng = Rng::new(3);
        let xs: Vec<f64> = (0..50_000).map(|_| l.sample(&mut rng) as f64).collect();
        let (mean, _) = moments(&xs);
        assert!((mean - 300.0).abs() < 300.0 * 0.02, "{mean}");
    }

    #[test]
    fn the_same_seed_gives_the_same_requests_at_any_rate() {
        let g = |rate| Generator {
            arrivals: Arrivals::Poisson,
            rate,
            prompt: Lengths::Uniform { lo: 1, hi: 100 },
            output: Lengths::LogNormal { mean: 50.0, sigma: 1.0, max: 400 },
            seed: 11,
        };
        let (a, b) = (g(1.0).generate(100).unwrap(), g(4.0).generate(100).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.prompt_tokens, x.output_tokens), (y.prompt_tokens, y.output_tokens));
            assert!((x.arrival_seconds - 4.0 * y.arrival_seconds).abs() < 1e-9);
        }
        assert_eq!(a, g(1.0).generate(100).unwrap());
    }

    #[test]
    fn lengths_and_spans_stay_within_a_request_and_a_year() {
        assert_eq!("16777216".parse::<Lengths>(), Ok(Lengths::Fixed(1 << 24)));
        for bad in
            ["16777217", "18446744073709551615", "uniform:1:16777217", "lognormal:1e300:1", "lognormal:8:1:16777217"]
        {
            let e = bad.parse::<Lengths>().unwrap_err();
            assert!(e.contains("a request may have"), "{bad}: {e}");
        }
        // The default MAX (8 x MEAN) stops at a request's most.
        assert_eq!("lognormal:16777216:1".parse::<Lengths>().unwrap().max(), 1 << 24);
        let g = |rate, n| {
            Generator {
                arrivals: Arrivals::Gamma { cv: 0.0 },
                rate,
                prompt: Lengths::Fixed(1),
                output: Lengths::Fixed(1),
                seed: 0,
            }
            .generate(n)
        };
        assert!(g(1.0 / (1u64 << 25) as f64, 2).is_ok());
        let e = g(1e-300, 2).unwrap_err().to_string();
        assert!(e.contains("--rate 1e-300") && e.contains("arrivals may span"), "{e}");
        assert!(g(1e-300, 1).is_ok(), "one request spans nothing");
    }

    #[test]
    fn reads_azure_style_and_own_traces() {
        let azure = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                     2023-11-16 18:15:46.6805900,374,44\n\
                     2023-11-16 18:15:50.9951690,396,109\n\
                     2023-11-16 18:16:06.0,879,3\n";
        let r = parse_trace("az.csv", azure, None).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].prompt_tokens, r[0].output_tokens, r[0].arrival_seconds), (374, 44, 0.0));
        assert!((r[1].arrival_seconds - 4.314579).abs() < 1e-6, "{}", r[1].arrival_seconds);
        assert!((r[2].arrival_seconds - 19.31941).abs() < 1e-5);
        assert_eq!(r[2].source.as_deref(), Some("az.csv:4"));
        let own = "arrival_seconds,prompt_tokens,output_tokens,note\n1.5,10,2,x\n2.5,20,3,y\n";
        let r = parse_trace("own.csv", own, Some(1)).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].arrival_seconds, 0.0);
        // Across midnight and a month end.
        assert_eq!(parse_time("2024-03-01 00:00:00").unwrap() - parse_time("2024-02-29 23:59:59").unwrap(), 1.0);
    }

    #[test]
    fn bad_rows_name_file_line_and_expectation() {
        let cases = [
            ("t,p\n", "trace.csv:1", "arrival time column"),
            ("arrival_seconds,prompt_tokens,output_tokens\n0,1,1\n1,x,1\n", "trace.csv:3", "whole number"),
            ("arrival_seconds,prompt_tokens,output_tokens\n0,1,1\n1,1,0\n", "trace.csv:3", "at least 1"),
            ("arrival_seconds,prompt_tokens,output_tokens\n5,1,1\n1,1,1\n", "trace.csv:3", "arrival order"),
            ("arrival_seconds,prompt_tokens,output_tokens\nyesterday,1,1\n", "trace.csv:2", "timestamp like"),
            ("arrival_seconds,prompt_tokens,output_tokens\n0,1\n", "trace.csv:2", "expected 3 fields"),
            ("arrival_seconds,prompt_tokens,output_tokens\n", "trace.csv:1", "no requests"),
            // Past the bounds of arch/limits.md: a request longer than a
            // context may be, arrivals further apart than f64 seconds resolve.
            ("arrival_seconds,prompt_tokens,output_tokens\n0,16777217,1\n", "trace.csv:2", "a request may have"),
            (
                "arrival_seconds,prompt_tokens,output_tokens\n0,1,1\n0,1,18446744073709551615\n",
                "trace.csv:3",
                "a request",
            ),
            ("arrival_seconds,prompt_tokens,output_tokens\n5,1,1\n1e300,1,1\n", "trace.csv:3", "arrivals may span"),
        ];
        for (text, at, what) in cases {
            let e = parse_trace("trace.csv", text, None).unwrap_err().to_string();
            assert!(e.starts_with(at) && e.contains(what), "{text:?}: {e}");
        }
    }
}
