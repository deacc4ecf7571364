//! Shared by every bench: the smoke switch, machine notes, publishing a bench's tables into
//! `docs/benchmarks.md`, and small SVG line charts.
//!
//! `BENCH_SMOKE=1` (set by `tests/bench_smoke.rs`) shrinks every workload to seconds and
//! publishes nothing: the smoke run proves a bench still runs, never how fast.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// True in smoke mode.
pub fn smoke() -> bool {
    std::env::var_os("BENCH_SMOKE").is_some_and(|v| v != "0")
}

/// `full` normally, `small` in smoke mode.
pub fn size(full: usize, small: usize) -> usize {
    if smoke() { small } else { full }
}

/// The 1-minute load average now, as `/proc/loadavg` reports it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// One line naming the machine: CPUs, memory, kernel, date and load.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "{cpus} × {model}, {memory_gb:.0} GB RAM, Linux {kernel}, {profile} profile, measured {} UTC, load average {} at the start",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        load_average()
    )
}

/// Resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// The resident memory of process `pid` split as `/proc/<pid>/smaps_rollup` does: anonymous
/// (heap, stacks, relocated data) and file-backed (the executable's and libraries' pages), KiB.
pub fn rss_split_kib(pid: u32) -> (u64, u64) {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        rollup
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (rss, anonymous) = (field("Rss:"), field("Anonymous:"));
    (anonymous, rss.saturating_sub(anonymous))
}

/// CPU time (user + system) used so far by process `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are 14th and 15th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .unwrap_or(0.0);
    ticks / 100.0
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in
/// `docs/benchmarks.md` with `markdown` (appending the section when it is missing). Skipped in
/// smoke mode.
pub fn publish(name: &str, markdown: &str) {
    println!("{markdown}");
    if smoke() {
        return;
    }
    let path = repo().join("docs").join("benchmarks.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (open, close) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    let section = format!("{open}\n{}\n{close}", markdown.trim_end());
    let updated = match (text.find(&open), text.find(&close)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{section}{}", &text[..start], &text[end + close.len()..])
        }
        _ => format!("{}\n{section}\n", text.trim_end()),
    };
    if let Err(error) = std::fs::write(&path, updated) {
        eprintln!("cannot update {}: {error}", path.display());
    }
}

/// One line of a chart: a name and its points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Writes a line chart to `docs/bench/<file>` (skipped in smoke mode, where it is only
/// rendered). `log_x` spaces the x axis logarithmically.
pub fn chart(
    file: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    log_x: bool,
    series: &[Series],
) {
    let svg = render_chart(title, x_label, y_label, log_x, series);
    if smoke() {
        return;
    }
    let dir = repo().join("docs").join("bench");
    let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(file), svg));
    if let Err(error) = written {
        eprintln!("cannot write chart {file}: {error}");
    }
}

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

fn render_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    log_x: bool,
    series: &[Series],
) -> String {
    let (width, height, left, right, top, bottom) = (640.0, 400.0, 70.0, 180.0, 40.0, 50.0);
    let points = series.iter().flat_map(|s| s.points.iter());
    let fx = |x: f64| if log_x { x.max(1e-9).log10() } else { x };
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in points {
        x0 = x0.min(fx(x));
        x1 = x1.max(fx(x));
        y1 = y1.max(y);
    }
    if x0 >= x1 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 > 0.0 { y1 * 1.1 } else { 1.0 };
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let px = |x: f64| left + (fx(x) - x0) / (x1 - x0) * plot_w;
    let py = |y: f64| top + plot_h - y / y1 * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>
"#,
        left + plot_w / 2.0,
        escape(title),
        top + plot_h,
        left + plot_w,
        top + plot_h,
        top + plot_h,
        left + plot_w / 2.0,
        height - 10.0,
        escape(x_label),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        escape(y_label),
    );
    for i in 0..=4 {
        let y = y1 * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
            py(y),
            left + plot_w,
            left - 6.0,
            py(y) + 4.0,
            tick(y)
        );
    }
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            px(x),
            top + plot_h + 16.0,
            tick(x)
        );
    }
    for (index, line) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> = line
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for &(x, y) in &line.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                px(x),
                py(y)
            );
        }
        let legend_y = top + 14.0 + index as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="12" height="3" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
            width - right + 12.0,
            legend_y - 4.0,
            width - right + 28.0,
            legend_y,
            escape(&line.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn tick(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 100.0 || value == value.round() {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `p` quantile (0–1) of `samples`, sorting them.
pub fn percentile(samples: &mut [std::time::Duration], p: f64) -> std::time::Duration {
    if samples.is_empty() {
        return std::time::Duration::ZERO;
    }
    samples.sort();
    let i = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
    samples[i.min(samples.len() - 1)]
}

/// Milliseconds, for printing.
pub fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The durable write rate of the disk under `dir`: 4 KiB appended and `fsync`ed in a loop for
/// `seconds`, as fsyncs per second.
pub fn fsync_rate(dir: &Path, seconds: f64) -> f64 {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let Ok(mut file) = std::fs::File::create(&path) else {
        return 0.0;
    };
    let block = [0u8; 4096];
    let started = std::time::Instant::now();
    let mut count = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        if file
            .write_all(&block)
            .and_then(|()| file.sync_data())
            .is_err()
        {
            return 0.0;
        }
        count += 1;
    }
    let _ = std::fs::remove_file(&path);
    count as f64 / started.elapsed().as_secs_f64()
}

/// `perf record` (DWARF call graphs) of one process while a bench section runs: with
/// `BENCH_PERF_DIR=<dir>` set (and not in smoke mode), [`Profile::section`] samples this process
/// into `<dir>/<bench>-<section>.data`; otherwise it does nothing. Render a file with
/// `perf report -i <file>` or `perf script | inferno-collapse-perf | inferno-flamegraph`.
pub struct Profile {
    perf: Option<std::process::Child>,
}

impl Profile {
    /// Samples process `pid` into `output` until [`Profile::finish`].
    pub fn start(pid: u32, output: &Path) -> Self {
        let perf = std::process::Command::new("perf")
            .args(["record", "--call-graph", "dwarf,16384", "-F", "499", "-o"])
            .arg(output)
            .arg("-p")
            .arg(pid.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|error| eprintln!("perf does not start: {error}"))
            .ok();
        // perf attaches asynchronously; samples before it has are lost, not wrong.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Self { perf }
    }

    /// Samples this process into `$BENCH_PERF_DIR/<bench>-<section>.data` when that is set.
    pub fn section(bench: &str, section: &str) -> Self {
        match std::env::var_os("BENCH_PERF_DIR") {
            Some(dir) if !smoke() => {
                let dir = PathBuf::from(dir);
                let _ = std::fs::create_dir_all(&dir);
                Self::start(
                    std::process::id(),
                    &dir.join(format!("{bench}-{section}.data")),
                )
            }
            _ => Self { perf: None },
        }
    }

    /// Stops sampling; perf writes its file on SIGINT.
    pub fn finish(self) {
        if let Some(mut perf) = self.perf {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &perf.id().to_string()])
                .status();
            let _ = perf.wait();
        }
    }
}
