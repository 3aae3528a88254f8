//! One measured path's samples and how they print.

use crate::Res;
use std::time::{Duration, Instant};

pub(crate) struct Sample {
    pub(crate) name: &'static str,
    pub(crate) times: Vec<Duration>,
}

impl Sample {
    pub(crate) fn print_header() {
        println!();
        println!(
            "{:<58} {:>10} {:>10} {:>10} {:>5}",
            "path", "median ms", "min ms", "max ms", "runs"
        );
        println!("{}", "-".repeat(97));
    }

    pub(crate) fn print_row(&self) {
        println!(
            "{:<58} {:>10.1} {:>10.1} {:>10.1} {:>5}",
            self.name,
            self.median_ms(),
            self.min_ms(),
            self.max_ms(),
            self.times.len()
        );
    }

    pub(crate) fn new(name: &'static str) -> Sample {
        Sample {
            name,
            times: vec![],
        }
    }

    pub(crate) fn median_ms(&self) -> f64 {
        let mut t: Vec<f64> = self.times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        t.sort_by(|a, b| a.total_cmp(b));
        let n = t.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            t[n / 2]
        } else {
            (t[n / 2 - 1] + t[n / 2]) / 2.0
        }
    }

    pub(crate) fn min_ms(&self) -> f64 {
        self.times
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .fold(f64::INFINITY, f64::min)
    }

    pub(crate) fn max_ms(&self) -> f64 {
        self.times
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .fold(0.0, f64::max)
    }
}

pub(crate) fn timed<T>(f: impl FnOnce() -> Res<T>) -> Res<(Duration, T)> {
    let started = Instant::now();
    let value = f()?;
    Ok((started.elapsed(), value))
}
