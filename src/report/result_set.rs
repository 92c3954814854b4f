//! A run's result set (`run --out DIR`: result.json, result.csv, the timeline files)
//! replaced as one: a reader of DIR sees the complete old set or the complete new one,
//! never a mix, whatever step a crash or `kill -9` stops the writer at.
//!
//! How (issue 17 item 8): the set is written into `.<DIR>.tmp-<pid>` beside DIR, each
//! file synced, then the folder synced; that folder then takes DIR's place in one step
//! (Linux `renameat2(RENAME_EXCHANGE)` swaps the two names atomically; elsewhere, or
//! on a file system without it, DIR is renamed to `.<DIR>.old-<pid>` first, and the
//! next run puts it back if a crash came between the two renames); the old set is then
//! removed and the parent folder synced. Entries of DIR that are not result files (a
//! shell's `>DIR/stdout`, a user's notes) are carried into the new folder: files as
//! hard links before the swap (an open descriptor keeps writing to the same file, and
//! the file stays in DIR until then), folders (and files that cannot be linked) by
//! rename after it, out of the old set, so that a kill before the swap leaves them in
//! DIR. A kill in the instant between the swap and that rename (step `run.swapped`)
//! leaves them in the old set, `.<DIR>.tmp-<pid>` (`.<DIR>.old-<pid>` on the two-rename
//! path), beside DIR. Temporaries left by a killed run (their process no longer alive)
//! are cleaned up at the start of the next write to the same DIR, giving back anything
//! of the user's they hold.
//!
//! One writer at a time: two runs writing to one DIR at once could each carry the
//! user's folders and one delete them with its old set. A writer holds an advisory
//! lock (`flock`) on DIR's parent folder (DIR itself is replaced, so a lock on it would
//! not exclude the next writer) from before the clean-up to the end; a second one
//! waits, saying so. Where the file system has no locks, writers go on unlocked.
//!
//! Every step calls [`crate::killpoint::at`] (`run.*`), so the tests can stop it there.

use crate::killpoint;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The names of the files a run may write into its folder: entries of DIR by these
/// names belong to the old set and are replaced; any other entry is the user's.
pub const RUN_FILES: [&str; 5] = [
    "result.json",
    "result.csv",
    "timeline.csv",
    "timeline.svg",
    "memory.svg",
];

/// Write `files` (name, contents) as the new content of folder `dir`, replacing its
/// result files ([`RUN_FILES`]) as one set; see the module doc.
pub fn write_set(dir: &Path, files: &[(&str, &[u8])]) -> io::Result<()> {
    // `--out .`: the current folder cannot be swapped under the shell that sits in it;
    // its files are each replaced atomically instead.
    let Some(name) = dir.file_name().filter(|n| *n != OsStr::new("..")) else {
        for (f, body) in files {
            super::write_atomic(&dir.join(f), body)?;
        }
        return Ok(());
    };
    // A symbolic link to a folder: its target is what gets replaced.
    let dir = match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(dir)?,
        _ => dir.to_path_buf(),
    };
    let name = dir.file_name().unwrap_or(name).to_os_string();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)?;
    let _lock = lock(&parent, &dir)?;
    recover(&parent, &name)?;
    let exists = match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a folder",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let pid = std::process::id();
    let tmp = parent.join(temp_name(&name, "tmp", pid));
    if tmp.exists() {
        // Left by an earlier process that had our pid.
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir(&tmp)?;
    killpoint::at("run.tmp_created");
    for (f, body) in files {
        write_synced(&tmp.join(f), body)?;
        killpoint::at("run.file_written");
    }
    if exists {
        link_files(&dir, &tmp)?;
    }
    sync_dir(&tmp)?;
    killpoint::at("run.tmp_synced");
    if !exists {
        fs::rename(&tmp, &dir)?;
        killpoint::at("run.swapped");
    } else if exchange(&tmp, &dir)? {
        killpoint::at("run.swapped");
        give_back(&tmp, &dir)?;
        killpoint::at("run.carried");
        fs::remove_dir_all(&tmp)?;
        killpoint::at("run.old_removed");
    } else {
        let old = parent.join(temp_name(&name, "old", pid));
        fs::rename(&dir, &old)?;
        killpoint::at("run.old_moved");
        fs::rename(&tmp, &dir)?;
        killpoint::at("run.swapped");
        give_back(&old, &dir)?;
        killpoint::at("run.carried");
        fs::remove_dir_all(&old)?;
        killpoint::at("run.old_removed");
    }
    sync_dir(&parent)
}

/// `.<name>.<tag>-<pid>`.
fn temp_name(name: &OsStr, tag: &str, pid: u32) -> String {
    format!(".{}.{tag}-{pid}", name.to_string_lossy())
}

fn write_synced(path: &Path, body: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path)?;
    f.write_all(body)?;
    killpoint::fail("run.sync")?;
    f.sync_all()
}

/// Sync a folder's entries (that a rename or a new file in it is on disk).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn is_run_file(name: &OsStr) -> bool {
    RUN_FILES.iter().any(|f| OsStr::new(f) == name)
}

/// Every file of `old` that is not a result file is linked into `new` (it stays in
/// `old` too, so a crash loses nothing). Folders, and files that cannot be linked,
/// stay where they are: [`give_back`] moves them once `new` is in place.
fn link_files(old: &Path, new: &Path) -> io::Result<()> {
    for e in fs::read_dir(old)? {
        let e = e?;
        let name = e.file_name();
        if is_run_file(&name) || e.file_type()?.is_dir() {
            continue;
        }
        // Not linked (a file system without hard links): moved after the swap.
        let _ = fs::hard_link(e.path(), new.join(&name));
    }
    Ok(())
}

/// Every entry of `from` (an old set, or a killed writer's temporary) that is the
/// user's and that `dir` does not hold yet (a linked file is there already) is moved
/// into `dir`, which is then synced.
fn give_back(from: &Path, dir: &Path) -> io::Result<()> {
    let mut moved = false;
    for e in fs::read_dir(from)? {
        let e = e?;
        let to = dir.join(e.file_name());
        if !is_run_file(&e.file_name()) && fs::symlink_metadata(&to).is_err() {
            fs::rename(e.path(), to)?;
            moved = true;
        }
    }
    if moved {
        sync_dir(dir)?;
    }
    Ok(())
}

/// The advisory lock on `parent` that makes the writers of `dir` take turns (see the
/// module doc); released when the returned descriptor closes. `None` where the file
/// system cannot lock.
fn lock(parent: &Path, dir: &Path) -> io::Result<Option<fs::File>> {
    use crate::util::{lock_folder, FolderLock};
    let held = |l| match l {
        FolderLock::Held(f) => Some(f),
        _ => None,
    };
    match lock_folder(parent, false)? {
        FolderLock::Busy => {
            eprintln!(
                "{}: waiting for another writer (a `run --out` to a folder in {}, or a sweep holding it) to finish",
                dir.display(),
                parent.display()
            );
            Ok(held(lock_folder(parent, true)?))
        }
        l => Ok(held(l)),
    }
}

/// Clean up after writers of `parent/name` that were killed: an `.old-` folder is put
/// back if DIR is missing (a crash between the two renames), otherwise removed; a
/// `.tmp-` folder is removed. Anything of the user's they hold goes back into DIR.
fn recover(parent: &Path, name: &OsStr) -> io::Result<()> {
    let dir = parent.join(name);
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut stale: Vec<(bool, PathBuf)> = Vec::new();
    for e in fs::read_dir(parent)? {
        let e = e?;
        let entry = e.file_name();
        let entry = entry.to_string_lossy();
        let Some(rest) = entry.strip_prefix(&prefix) else {
            continue;
        };
        let (is_old, pid) = match (rest.strip_prefix("old-"), rest.strip_prefix("tmp-")) {
            (Some(p), _) => (true, p),
            (_, Some(p)) => (false, p),
            _ => continue,
        };
        match pid.parse::<u32>() {
            Ok(pid) if !crate::util::pid_alive(pid) => stale.push((is_old, e.path())),
            _ => {}
        }
    }
    // Old sets first: one may have to become DIR again before a new one gives back
    // the user's folders into it.
    stale.sort_by_key(|(is_old, _)| !is_old);
    for (is_old, path) in stale {
        if is_old && !dir.exists() {
            fs::rename(&path, &dir)?;
            continue;
        }
        if dir.is_dir() {
            give_back(&path, &dir)?;
        }
        fs::remove_dir_all(&path)?;
    }
    Ok(())
}

/// Swap the names `a` and `b` in one step; `Ok(false)` where that is not supported.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: two NUL-terminated paths, relative to the current folder.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Not supported by the kernel or the file system: the two-rename path.
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_new_set_replaces_the_old_one_whole_and_keeps_the_users_files() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("out");
        write_set(&dir, &[("result.json", b"old"), ("timeline.csv", b"old")]).unwrap();
        fs::write(dir.join("stdout"), "kept").unwrap();
        fs::create_dir(dir.join("notes")).unwrap();
        fs::write(dir.join("notes/a"), "kept").unwrap();
        write_set(&dir, &[("result.json", b"new"), ("result.csv", b"new")]).unwrap();
        // The old timeline is not part of the new set; the user's entries stay.
        assert_eq!(
            listing(&dir),
            ["notes", "result.csv", "result.json", "stdout"]
        );
        assert_eq!(fs::read(dir.join("result.json")).unwrap(), b"new");
        assert_eq!(fs::read(dir.join("stdout")).unwrap(), b"kept");
        assert_eq!(fs::read(dir.join("notes/a")).unwrap(), b"kept");
        assert_eq!(listing(t.path()), ["out"]);
    }

    /// What the two-rename path leaves when killed between its renames (DIR gone, the
    /// old set aside, the new one complete in its temporary): the next write puts the
    /// old set back first, gives back the user's folder and leaves no temporary.
    #[test]
    fn a_crash_between_two_renames_is_repaired_by_the_next_write() {
        let t = tempfile::tempdir().unwrap();
        let dead = u32::MAX - 1; // no such process
        let old = t.path().join(format!(".out.old-{dead}"));
        let tmp = t.path().join(format!(".out.tmp-{dead}"));
        fs::create_dir_all(old.join("notes")).unwrap();
        fs::write(old.join("result.json"), "old").unwrap();
        fs::create_dir_all(tmp.join("mine")).unwrap();
        fs::write(tmp.join("result.json"), "half").unwrap();
        let dir = t.path().join("out");
        recover(t.path(), OsStr::new("out")).unwrap();
        assert_eq!(listing(&dir), ["mine", "notes", "result.json"]);
        assert_eq!(fs::read(dir.join("result.json")).unwrap(), b"old");
        assert_eq!(listing(t.path()), ["out"]);
        write_set(&dir, &[("result.json", b"new")]).unwrap();
        assert_eq!(listing(&dir), ["mine", "notes", "result.json"]);
        assert_eq!(listing(t.path()), ["out"]);
    }

    #[test]
    fn a_running_writers_temporary_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        // Process 1 (init) is alive: its temporary is in use.
        let busy = t.path().join(".out.tmp-1");
        fs::create_dir(&busy).unwrap();
        write_set(&t.path().join("out"), &[("result.json", b"x")]).unwrap();
        assert!(busy.is_dir());
    }
}
