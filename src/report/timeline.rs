//! Chrome trace-event JSON (opens in Perfetto and chrome://tracing),
//! streamed as the simulation runs (arch/timeline.md): one process per
//! chip, named; one named thread per tile unit (matrix, vector), for its
//! delays and barrier waits, per DMA engine and per message lane, each
//! holding one span at a time, so every
//! thread's slices nest; counter tracks for the busiest links and DRAM
//! channels. Timestamps are whole nanoseconds written as microseconds with
//! three decimals, so a slice that ends where the next begins is read as
//! touching it, not overlapping.

use crate::chip::Chip;
use crate::sim::timeline::{Span, SpanSink, TimelineSummary, Track};
use crate::units::Cycle;
use std::io::{self, Write};

/// Bytes gathered before they go to the writer.
const CHUNK: usize = 1 << 16;

pub struct ChromeWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    ns_per_cycle: f64,
    tiles_per_chip: u32,
    chips: u32,
    /// `line` (text traces) or `byte` (binary): what a span's position is.
    pos_key: &'static str,
    /// The bits of a position written (all but for instructions made on
    /// the fly, whose positions hold their tile above: `positions`).
    pos_mask: u64,
    /// Thread ids handed out (0: none yet), per tile: matrix, vector, and
    /// per DMA engine and message lane; the next per process.
    units: Vec<[u32; 3]>,
    lanes: Vec<[Vec<u32>; 2]>,
    next_tid: Vec<u32>,
    /// The first write error (the run goes on; `finish` reports it).
    pub error: Option<io::Error>,
}

impl<W: Write> ChromeWriter<W> {
    /// Starts the document. `binary`: positions are byte offsets, else lines.
    pub fn new(out: W, chip: &Chip, binary: bool) -> ChromeWriter<W> {
        let mut buf = Vec::with_capacity(CHUNK + 1024);
        buf.extend_from_slice(b"{\"traceEvents\":[\n");
        ChromeWriter {
            out,
            buf,
            ns_per_cycle: 1e9 / chip.clock_hz,
            tiles_per_chip: chip.tiles_per_chip().max(1),
            chips: chip.system.chips,
            pos_key: if binary { "byte" } else { "line" },
            pos_mask: u64::MAX,
            units: vec![[0; 3]; chip.total_tiles() as usize],
            lanes: vec![[Vec::new(), Vec::new()]; chip.total_tiles() as usize],
            next_tid: vec![1; chip.system.chips as usize + 3],
            error: None,
        }
    }

    /// Positions are named `key` and only their bits in `mask` written
    /// (`run --traffic`: the instruction's number in its tile's stream,
    /// `synth::stream::POS_BITS`).
    pub fn positions(mut self, key: &'static str, mask: u64) -> Self {
        self.pos_key = key;
        self.pos_mask = mask;
        self
    }

    /// Nanoseconds since the start at `c`.
    fn ns(&self, c: Cycle) -> u64 {
        (c.0 as f64 * self.ns_per_cycle).round() as u64
    }

    /// `ns` as microseconds with three decimals.
    fn ts(buf: &mut Vec<u8>, ns: u64) {
        push_u64(buf, ns / 1000);
        let f = ns % 1000;
        buf.extend_from_slice(&[b'.', b'0' + (f / 100) as u8, b'0' + (f / 10 % 10) as u8, b'0' + (f % 10) as u8]);
    }

    fn flush_some(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// The thread of `track`, named on first use (and its process with it).
    fn tid(&mut self, pid: u32, track: Track) -> u32 {
        let t = track.tile().index();
        let slot = match track {
            Track::Matrix(_) => &mut self.units[t][0],
            Track::Vector(_) => &mut self.units[t][1],
            Track::Wait(_) => &mut self.units[t][2],
            Track::Dma(_, l) | Track::Net(_, l) => {
                let lanes = &mut self.lanes[t][usize::from(matches!(track, Track::Net(..)))];
                if lanes.len() <= l as usize {
                    lanes.resize(l as usize + 1, 0);
                }
                &mut lanes[l as usize]
            }
        };
        if *slot != 0 {
            return *slot;
        }
        let next = &mut self.next_tid[pid as usize];
        let tid = *next;
        *next += 1;
        *slot = tid;
        if tid == 1 {
            let _ = writeln!(
                self.buf,
                "{{\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"ts\":0,\"name\":\"process_name\",\"args\":{{\"name\":\"chip {}\"}}}},",
                pid - 1
            );
        }
        let (tile, what) = match track {
            Track::Matrix(t) => (t, "matrix".to_string()),
            Track::Vector(t) => (t, "vector".to_string()),
            Track::Wait(t) => (t, "wait".to_string()),
            Track::Dma(t, l) => (t, format!("dma {l}")),
            Track::Net(t, l) => (t, format!("msg {l}")),
        };
        let _ = writeln!(
            self.buf,
            "{{\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"ts\":0,\"name\":\"thread_name\",\"args\":{{\"name\":\"tile {} {what}\"}}}},",
            tile.0
        );
        tid
    }

    /// Ends the document: the counter tracks (inside the window), then what
    /// was recorded and left out. Returns the writer, to commit.
    pub fn finish(mut self, chip: &Chip, trace: &str, end: Cycle, s: &TimelineSummary) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (a, b) = s.window.unwrap_or((Cycle::ZERO, Cycle(u64::MAX)));
        let b = b.min(end);
        let links_pid = self.chips + 1;
        let mem_pid = links_pid + 1;
        let mut named = [false, false];
        let series = s
            .link_tracks
            .iter()
            .map(|(_, _, n, v)| (links_pid, "busiest links", n, v))
            .chain(s.channel_tracks.iter().map(|(n, v)| (mem_pid, "busiest DRAM channels", n, v)));
        for (pid, pname, name, bins) in series {
            let k = (pid - links_pid) as usize;
            if !named[k] {
                named[k] = true;
                let _ = writeln!(
                    self.buf,
                    "{{\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"ts\":0,\"name\":\"process_name\",\"args\":{{\"name\":\"{pname}\"}}}},"
                );
            }
            let name = serde_json::to_string(name).expect("a string serialises");
            let w = s.bin_cycles;
            let mut last = None;
            for (i, u) in bins.iter().enumerate() {
                let (c0, c1) = ((i as f64 * w) as u64, ((i + 1) as f64 * w) as u64);
                if c1 <= a.0 || c0 >= b.0 {
                    continue;
                }
                let ns = self.ns(Cycle(c0.max(a.0)));
                let _ = write!(self.buf, "{{\"ph\":\"C\",\"pid\":{pid},\"tid\":0,\"ts\":");
                Self::ts(&mut self.buf, ns);
                let _ = writeln!(self.buf, ",\"name\":{name},\"args\":{{\"busy\":{u:.4}}}}},");
                last = Some(c1.min(b.0));
                self.flush_some()?;
            }
            if let Some(c) = last {
                // Back to zero where the series ends.
                let ns = self.ns(Cycle(c));
                let _ = write!(self.buf, "{{\"ph\":\"C\",\"pid\":{pid},\"tid\":0,\"ts\":");
                Self::ts(&mut self.buf, ns);
                let _ = writeln!(self.buf, ",\"name\":{name},\"args\":{{\"busy\":0}}}},");
            }
        }
        // The last event (JSON has no trailing comma): a global instant at
        // the end of the run (of the window).
        let ns = self.ns(b);
        let _ = write!(self.buf, "{{\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":0,\"ts\":");
        Self::ts(&mut self.buf, ns);
        let _ = write!(self.buf, ",\"name\":\"end\"}}\n],\n\"otherData\":");
        let other = serde_json::json!({
            "chip": chip.name,
            "trace": trace,
            "clock_hz": chip.clock_hz,
            "cycles": end.0,
            "window_cycles": s.window.map(|(a, b)| (a.0, b.0.min(end.0))),
            "spans": s.written,
            "spans_left_out": s.dropped,
            "spans_clipped": s.clipped,
            "notes": s.notes,
        });
        serde_json::to_writer(&mut self.buf, &other).map_err(io::Error::other)?;
        self.buf.extend_from_slice(b"}\n");
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> SpanSink for ChromeWriter<W> {
    fn span(&mut self, s: &Span) -> io::Result<()> {
        let pid = s.track.tile().0 / self.tiles_per_chip + 1;
        let tid = self.tid(pid, s.track);
        let (t0, t1) = (self.ns(s.start), self.ns(s.end));
        let b = &mut self.buf;
        b.extend_from_slice(b"{\"ph\":\"X\",\"pid\":");
        push_u64(b, pid as u64);
        b.extend_from_slice(b",\"tid\":");
        push_u64(b, tid as u64);
        b.extend_from_slice(b",\"ts\":");
        Self::ts(b, t0);
        b.extend_from_slice(b",\"dur\":");
        Self::ts(b, t1 - t0);
        b.extend_from_slice(b",\"name\":\"");
        b.extend_from_slice(s.name.as_bytes());
        b.extend_from_slice(b"\",\"args\":{\"");
        b.extend_from_slice(self.pos_key.as_bytes());
        b.extend_from_slice(b"\":");
        push_u64(b, s.pos & self.pos_mask);
        if s.bytes > 0 {
            b.extend_from_slice(b",\"bytes\":");
            push_u64(b, s.bytes);
        }
        b.extend_from_slice(b"}},\n");
        if let Err(e) = self.flush_some() {
            let copy = io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            return Err(copy);
        }
        Ok(())
    }
}

/// Appends `n` in decimal (the hot path: one span is a handful of numbers).
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}
