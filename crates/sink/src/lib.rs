//! Trajectory files: one finished episode per line (JSONL), written so that a crash never leaves
//! a file that does not parse.
//!
//! - Each record is serialised in memory and written with a single `write_all` of the whole line
//!   on a file opened for appending, straight after the episode ends: a finished episode is in the
//!   file (the OS page cache) before the step that finished it is acknowledged, and no other
//!   record can interleave with it.
//! - A writer never appends to a file an earlier process wrote: it opens a new file, and first
//!   repairs older files in the directory by cutting a torn last line (the only damage a killed
//!   process can leave).
//! - Files rotate at a size limit; names sort in write order.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use medgym_env::record::EpisodeRecord;

/// Errors of trajectory files.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A line that is not a trajectory record.
    #[error("{path}:{line}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SinkError + '_ {
    move |source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Default size at which a file is closed and the next one started.
pub const DEFAULT_ROTATE_BYTES: u64 = 256 * 1024 * 1024;

/// Appends episodes to rotating JSONL files in a directory.
#[derive(Debug)]
pub struct TrajectoryWriter {
    dir: PathBuf,
    prefix: String,
    rotate_bytes: u64,
    file: File,
    path: PathBuf,
    written: u64,
    episodes: u64,
}

impl TrajectoryWriter {
    /// Opens a writer on `dir` (created if missing). Files already there are repaired first.
    pub fn open(dir: &Path, rotate_bytes: u64) -> Result<Self, SinkError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        for f in files(dir)? {
            repair(&f)?;
        }
        // A new run starts after every existing file, so names keep sorting in write order.
        let run = files(dir)?
            .iter()
            .filter_map(|p| run_of(p))
            .max()
            .map_or(0, |r| r + 1);
        let prefix = format!("trajectories-{run:06}");
        let (file, path) = create(dir, &prefix, 0)?;
        Ok(TrajectoryWriter {
            dir: dir.to_path_buf(),
            prefix,
            rotate_bytes: rotate_bytes.max(1),
            file,
            path,
            written: 0,
            episodes: 0,
        })
    }

    /// Writes one finished episode as one line.
    pub fn write(&mut self, record: &EpisodeRecord) -> Result<(), SinkError> {
        let mut line = record.to_line().into_bytes();
        line.push(b'\n');
        if self.written > 0 && self.written + line.len() as u64 > self.rotate_bytes {
            self.rotate()?;
        }
        self.file.write_all(&line).map_err(io_err(&self.path))?;
        self.written += line.len() as u64;
        self.episodes += 1;
        Ok(())
    }

    /// Flushes to the OS and syncs the current file to disk.
    pub fn sync(&mut self) -> Result<(), SinkError> {
        self.file.flush().map_err(io_err(&self.path))?;
        self.file.sync_data().map_err(io_err(&self.path))
    }

    /// Episodes written by this writer.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotate(&mut self) -> Result<(), SinkError> {
        self.sync()?;
        let part = part_of(&self.path).map_or(0, |p| p + 1);
        let (file, path) = create(&self.dir, &self.prefix, part)?;
        self.file = file;
        self.path = path;
        self.written = 0;
        Ok(())
    }
}

fn create(dir: &Path, prefix: &str, part: u32) -> Result<(File, PathBuf), SinkError> {
    let path = dir.join(format!("{prefix}-{part:05}.jsonl"));
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    Ok((file, path))
}

fn run_of(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("trajectories-")?.get(..6)?.parse().ok()
}

fn part_of(path: &Path) -> Option<u32> {
    let stem = path.file_stem()?.to_str()?;
    stem.rsplit('-').next()?.parse().ok()
}

/// The `.jsonl` files of a directory, sorted by name (write order).
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, SinkError> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    out.sort();
    Ok(out)
}

/// Cuts a torn last line (bytes after the last newline) off a file; returns how many bytes were
/// dropped. A complete file is left untouched.
pub fn repair(path: &Path) -> Result<u64, SinkError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len == 0 {
        return Ok(0);
    }
    // Scan back from the end in blocks for the last newline.
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    let keep = loop {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
        file.read_exact(&mut buf[..n]).map_err(io_err(path))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep).map_err(io_err(path))?;
        file.sync_data().map_err(io_err(path))?;
    }
    Ok(len - keep)
}

/// Reads every record of a file, failing on the first line that does not parse.
pub fn read(path: &Path) -> Result<Vec<EpisodeRecord>, SinkError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|source| SinkError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })?,
        );
    }
    Ok(out)
}

/// Reads every record of a file or of every `.jsonl` file in a directory.
pub fn read_all(path: &Path) -> Result<Vec<EpisodeRecord>, SinkError> {
    if path.is_dir() {
        let mut out = Vec::new();
        for f in files(path)? {
            out.extend(read(&f)?);
        }
        Ok(out)
    } else {
        read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use medgym_env::{Action, Diagnose, Env, ResetArgs, World};

    fn record(seed: u64) -> EpisodeRecord {
        let world = Arc::new(World::embedded().expect("knowledge"));
        let mut env = Env::new(world);
        env.reset(ResetArgs {
            seed,
            ..Default::default()
        })
        .expect("reset");
        env.step(Action::Text("<ask>any fever?</ask>".into()))
            .expect("step");
        env.step(Action::Diagnose(Diagnose {
            primary: "migraine".into(),
            differential: vec![],
        }))
        .expect("step");
        EpisodeRecord::from_trajectory(&env.trajectory().expect("trajectory")).expect("ended")
    }

    #[test]
    fn write_rotate_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = TrajectoryWriter::open(dir.path(), 4_000).expect("open");
        let records: Vec<_> = (0..10).map(record).collect();
        for r in &records {
            w.write(r).expect("write");
        }
        w.sync().expect("sync");
        let files = files(dir.path()).expect("files");
        assert!(files.len() > 1, "a 4 kB limit rotates: {files:?}");
        assert_eq!(read_all(dir.path()).expect("read"), records);
    }

    #[test]
    fn a_torn_last_line_is_cut_on_the_next_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = TrajectoryWriter::open(dir.path(), DEFAULT_ROTATE_BYTES).expect("open");
        w.write(&record(1)).expect("write");
        w.write(&record(2)).expect("write");
        let path = w.path().to_path_buf();
        drop(w);
        // Simulate a crash in the middle of a third line.
        let full = serde_json::to_string(&record(3)).expect("json");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(&full.as_bytes()[..full.len() / 2])
            .expect("write");
        drop(f);
        assert!(read(&path).is_err(), "the torn file does not parse");

        let mut w = TrajectoryWriter::open(dir.path(), DEFAULT_ROTATE_BYTES).expect("reopen");
        assert_ne!(w.path(), path, "a new run never appends to an old file");
        w.write(&record(4)).expect("write");
        let seeds: Vec<u64> = read_all(dir.path())
            .expect("every file parses")
            .iter()
            .map(|r| r.seed)
            .collect();
        assert_eq!(seeds, vec![1, 2, 4]);
    }

    #[test]
    fn repair_handles_edge_cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.jsonl");
        for (content, dropped) in [
            (&b""[..], 0),
            (b"{}\n", 0),
            (b"{\"a\"", 4),
            (b"{}\n{\"a\"", 4),
        ] {
            fs::write(&p, content).expect("write");
            assert_eq!(repair(&p).expect("repair"), dropped, "{content:?}");
            let after = fs::read(&p).expect("read");
            assert!(after.is_empty() || after.ends_with(b"\n"));
        }
    }
}

#[cfg(test)]
mod schema {
    /// `docs/trajectory.schema.json` is generated from the record types; regenerate with
    /// `MEDGYM_BLESS=1 cargo test -p medgym-sink`.
    #[test]
    fn the_committed_schema_matches_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/trajectory.schema.json");
        let want = serde_json::to_string_pretty(&medgym_env::record::EpisodeRecord::json_schema())
            .expect("json")
            + "\n";
        if std::env::var_os("MEDGYM_BLESS").is_some() {
            std::fs::write(&path, &want).expect("write schema");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/trajectory.schema.json is stale: run MEDGYM_BLESS=1 cargo test -p medgym-sink"
        );
    }
}
