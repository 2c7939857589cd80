//! The clock of a captured source: where each sample lies in time and where chunks begin and
//! end. Pure arithmetic, no I/O.
//!
//! A *session* is one connection's run of samples. Its first sample is stamped with the wall
//! clock when the connection delivered audio (or the end of the previous session, if that is
//! later: a source read faster than real time must not overlap itself), and every later sample
//! `k` lies at `start + k / rate`. Chunk boundaries fall on multiples of the chunk length in UTC
//! (a 60 s chunk starts on the minute), so the first chunk of a session is usually shorter; a
//! boundary is the sample nearest to it. Times are whole microseconds since the Unix epoch.

use chrono::{DateTime, TimeZone, Utc};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> Micros {
    Utc::now().timestamp_micros()
}

/// RFC 3339 in UTC with microseconds, as the chunk index writes times.
pub fn rfc3339(t: Micros) -> String {
    utc(t).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A time as a chrono UTC date-time.
pub fn utc(t: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(t).single().unwrap_or_default()
}

/// One session's sample clock and chunk boundaries.
#[derive(Debug, Clone)]
pub struct Timeline {
    start: Micros,
    rate: u32,
    chunk_samples: u64,
    /// Samples of the session so far.
    pos: u64,
    /// Sample index where the open chunk ends.
    boundary: u64,
}

impl Timeline {
    /// A session whose first sample lies at `start` (or up to one sample later: see below),
    /// with chunks of `chunk_seconds`.
    ///
    /// The first boundary is the last sample before the next multiple of the chunk length, and
    /// the session's start is moved forward by less than a sample so that this boundary lies
    /// on the multiple exactly; every later boundary then does too, to the microsecond.
    pub fn new(start: Micros, rate: u32, chunk_seconds: u32) -> Timeline {
        assert!(
            rate > 0 && chunk_seconds > 0,
            "rate and chunk length must be positive"
        );
        let chunk_us = i64::from(chunk_seconds) * 1_000_000;
        let samples_until = |t: Micros| ((t - start) as f64 * f64::from(rate) / 1e6).floor() as u64;
        let mut aligned = (start.div_euclid(chunk_us) + 1) * chunk_us;
        let mut first = samples_until(aligned);
        if first == 0 {
            // Less than a sample before a boundary: the first chunk is a whole one.
            aligned += chunk_us;
            first = samples_until(aligned);
        }
        let lead = (first as f64 * 1e6 / f64::from(rate)).round() as i64;
        Timeline {
            start: (aligned - lead).max(start),
            rate,
            chunk_samples: u64::from(chunk_seconds) * u64::from(rate),
            pos: 0,
            boundary: first,
        }
    }

    /// Time of the session's first sample.
    pub fn start(&self) -> Micros {
        self.start
    }

    /// Sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples of the session so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Time of sample `k` of the session.
    pub fn time_at(&self, k: u64) -> Micros {
        self.start + (k as f64 * 1e6 / f64::from(self.rate)).round() as i64
    }

    /// Time just after the last sample so far: where the next session may start.
    pub fn end(&self) -> Micros {
        self.time_at(self.pos)
    }

    /// How many of the next `n` samples belong to the open chunk, and whether taking them
    /// completes it. Call [`Timeline::advance`] with the first number before asking again.
    pub fn take(&self, n: usize) -> (usize, bool) {
        let room = self.boundary - self.pos;
        if (n as u64) >= room {
            (room as usize, true)
        } else {
            (n, false)
        }
    }

    /// Moves the clock `n` samples on (never past the open chunk's end), opening the next
    /// chunk when the boundary is reached.
    pub fn advance(&mut self, n: usize) {
        self.pos += n as u64;
        debug_assert!(self.pos <= self.boundary);
        if self.pos == self.boundary {
            self.boundary += self.chunk_samples;
        }
    }
}

/// Where a new session starts after one that ended at `previous_end`, if the wall clock says
/// `now`: never before the previous end, so that no two chunks overlap.
pub fn next_session_start(previous_end: Option<Micros>, now: Micros) -> Micros {
    previous_end.map_or(now, |end| end.max(now))
}

/// The seconds part of a chunk file name, `YYYYMMDD_HHMMSS`: the start to the second
/// (boundaries lie on their second exactly, the first chunk of a session starts within it).
pub fn name_stamp(t: Micros) -> String {
    utc(t).format("%Y%m%d_%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(t: &mut Timeline, blocks: &[usize]) -> Vec<u64> {
        // Lengths of completed chunks.
        let mut chunks = vec![];
        let mut open = 0u64;
        for &b in blocks {
            let mut left = b;
            while left > 0 {
                let (k, done) = t.take(left);
                t.advance(k);
                open += k as u64;
                left -= k;
                if done {
                    chunks.push(open);
                    open = 0;
                }
            }
        }
        chunks
    }

    #[test]
    fn chunks_fall_on_utc_multiples_and_never_lose_a_sample() {
        // 22:20:13.250 at 48 kHz, 10 s chunks: the first chunk runs to 22:20:20.
        let start = 1_700_000_413_250_000;
        let mut t = Timeline::new(start, 48_000, 10);
        let chunks = split(&mut t, &[1000; 2000]);
        assert_eq!(chunks[0], 6 * 48_000 + 36_000);
        assert_eq!(t.start(), start);
        assert!(chunks[1..].iter().all(|&c| c == 480_000));
        let total: u64 = chunks.iter().sum();
        assert!(total <= 2_000_000 && 2_000_000 - total < 480_000);
        assert_eq!(t.position(), 2_000_000);
        // Every boundary on a multiple of 10 s, to the microsecond.
        let mut k = 0;
        for c in &chunks {
            k += c;
            assert_eq!(t.time_at(k) % 10_000_000, 0);
        }
    }

    #[test]
    fn a_session_starting_on_a_boundary_opens_a_whole_chunk() {
        let mut t = Timeline::new(1_700_000_400_000_000, 8_000, 5);
        assert_eq!(split(&mut t, &[40_000]), vec![40_000]);
    }

    #[test]
    fn boundaries_of_rates_that_do_not_divide_a_microsecond() {
        let start = 1_700_000_401_000_003;
        let mut t = Timeline::new(start, 44_100, 1);
        let chunks = split(&mut t, &[4410; 100]);
        assert!(chunks[1..].iter().all(|&c| c == 44_100));
        let mut k = 0;
        for c in &chunks {
            k += c;
            let at = t.time_at(k);
            assert!(
                (at - (at + 500_000) / 1_000_000 * 1_000_000).abs() <= 12,
                "{at}"
            );
            assert_eq!(name_stamp(at).len(), 15);
        }
    }

    #[test]
    fn the_start_moves_less_than_a_sample_and_never_back() {
        for rate in [8_000, 22_050, 44_100, 48_000, 96_000, 250_000, 7] {
            for start in [
                1_700_000_401_000_003,
                1_700_000_401_999_999,
                1_700_000_402_000_000,
            ] {
                let t = Timeline::new(start, rate, 1);
                let shift = t.start() - start;
                assert!(
                    shift >= 0 && (shift as f64) < 1e6 / f64::from(rate),
                    "{rate} {start}"
                );
                assert_eq!(
                    t.time_at(t.take(usize::MAX).0 as u64) % 1_000_000,
                    0,
                    "{rate} {start}"
                );
            }
        }
    }

    #[test]
    fn sessions_never_overlap() {
        assert_eq!(next_session_start(None, 5), 5);
        assert_eq!(next_session_start(Some(3), 5), 5);
        assert_eq!(next_session_start(Some(9), 5), 9);
    }

    #[test]
    fn stamps_and_times() {
        assert_eq!(name_stamp(1_700_000_400_000_000), "20231114_222000");
        assert_eq!(name_stamp(1_700_000_400_250_000), "20231114_222000");
        assert_eq!(name_stamp(1_700_000_399_999_999), "20231114_221959");
        assert_eq!(
            rfc3339(1_700_000_400_250_000),
            "2023-11-14T22:20:00.250000Z"
        );
    }
}
