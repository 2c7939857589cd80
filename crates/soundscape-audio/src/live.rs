//! Live inputs: a stream that FFmpeg opens by URL (`http(s)://` from Icecast or Shoutcast, a
//! local file or FIFO, `file:`), decoded block by block with its channels kept apart. Unlike
//! [`crate::AudioReader`], nothing is known in advance: no length, and the rate or channel
//! count may change when a chained Ogg stream starts a new track, so each block says its own.
//! An interrupt callback lets the caller abort an open or a read that waits for data (a
//! stalled server, a shutdown).

use crate::ffmpeg::{open_url, FfmpegSource};
use crate::AudioInfo;

/// One decoded block: interleaved samples scaled as the file readers scale them.
#[derive(Debug)]
pub struct LiveBlock<'a> {
    pub samples: &'a [f32],
    pub channels: usize,
    pub rate: u32,
}

impl LiveBlock<'_> {
    /// Frames (samples per channel) in the block.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }
}

/// An open live stream.
pub struct LiveInput {
    source: FfmpegSource,
    info: AudioInfo,
    buffer: Vec<f32>,
}

impl LiveInput {
    /// Opens `url` with libavformat `options` (`user_agent`, `analyzeduration`, ...).
    /// `interrupt` is polled while FFmpeg waits; returning true aborts the wait with an
    /// error, here or in a later [`LiveInput::next_block`].
    pub fn open(
        url: &str,
        options: &[(&str, &str)],
        interrupt: impl FnMut() -> bool + Send + 'static,
    ) -> Result<LiveInput, String> {
        let (source, info) = open_url(url, options, interrupt)?;
        Ok(LiveInput {
            source,
            info,
            buffer: Vec::new(),
        })
    }

    /// What the stream header said.
    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// The bits per sample that keep what the stream carries when it is stored as integer PCM:
    /// 16 for lossy codecs (their noise floor lies far below 16-bit quantisation) and for 8- and
    /// 16-bit PCM, 24 for wider integers and for float PCM.
    pub fn lossless_bits(&self) -> u32 {
        use ffmpeg_next::format::Sample;
        const LOSSY: [&str; 7] = ["opus", "vorbis", "mp3", "mp3float", "mp2", "aac", "libopus"];
        match self.source.sample_format() {
            Sample::U8(_) | Sample::I16(_) => 16,
            Sample::F32(_) | Sample::F64(_) if LOSSY.contains(&self.info.codec.as_str()) => 16,
            _ => 24,
        }
    }

    /// The next decoded block, `None` at the end of the stream.
    pub fn next_block(&mut self) -> Result<Option<LiveBlock<'_>>, String> {
        match self.source.next(&mut self.buffer, true)? {
            None => Ok(None),
            Some(_) => {
                let (rate, channels) = self.source.frame_layout();
                Ok(Some(LiveBlock {
                    samples: &self.buffer,
                    channels: channels.max(1),
                    rate,
                }))
            }
        }
    }
}
