//! Mosquitto's password file: one `user:hash` line per user, as `mosquitto_passwd` writes it.
//!
//! Two hash formats are read: `$7$<iterations>$<salt>$<hash>` (PBKDF2-HMAC-SHA512, what
//! `mosquitto_passwd` writes since 2.0: 101 iterations, a 12-byte salt, a 64-byte hash) and
//! `$6$<salt>$<hash>` (SHA-512 over password then salt, Mosquitto 1.6 and earlier). Salt and
//! hash are standard base64 with padding. Entries written here are always `$7$`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::rand::SecureRandom as _;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// PBKDF2 iterations of a new entry: `mosquitto_passwd`'s default.
pub const DEFAULT_ITERATIONS: u32 = 101;
/// Salt length in bytes of a new entry: `mosquitto_passwd`'s, and the only one Mosquitto loads.
pub const SALT_LEN: usize = 12;
/// SHA-512 output length: the only hash length Mosquitto loads.
const HASH_LEN: usize = 64;

/// Why a password file could not be read, parsed, changed or written.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    #[error("{file}:{line}: {reason}")]
    Parse {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("cannot read password file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write password file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid username {0:?}: it must be non-empty and contain no ':' or line break")]
    InvalidUsername(String),
    #[error("a password must not contain a NUL byte")]
    NulInPassword,
    #[error("PBKDF2 iterations must be at least 1")]
    InvalidIterations,
    #[error("the system random number generator failed")]
    Random,
}

/// A stored password hash (never the password itself).
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2Sha512 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// `$6$`: SHA-512(password || salt).
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
}

impl fmt::Debug for PasswordHash {
    // Hash bytes are secrets too: show only the kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Pbkdf2Sha512 { iterations, .. } => {
                write!(f, "PasswordHash::Pbkdf2Sha512(iterations={iterations})")
            }
            PasswordHash::Sha512 { .. } => f.write_str("PasswordHash::Sha512"),
        }
    }
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt as `mosquitto_passwd` does (`$7$`).
    pub fn create(password: &[u8], iterations: u32) -> Result<Self, PasswordFileError> {
        if password.contains(&0) {
            return Err(PasswordFileError::NulInPassword);
        }
        let iterations = NonZeroU32::new(iterations).ok_or(PasswordFileError::InvalidIterations)?;
        let mut salt = vec![0u8; SALT_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| PasswordFileError::Random)?;
        let mut hash = vec![0u8; HASH_LEN];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA512,
            iterations,
            &salt,
            password,
            &mut hash,
        );
        Ok(PasswordHash::Pbkdf2Sha512 {
            iterations,
            salt,
            hash,
        })
    }

    /// Whether `password` hashes to this entry; the comparison takes the same time wherever
    /// the first differing byte is. A password containing a NUL byte never verifies:
    /// Mosquitto's files hold C-string passwords, and HMAC would make `"pw"` and `"pw\0"`
    /// equal.
    pub fn verify(&self, password: &[u8]) -> bool {
        if password.contains(&0) {
            return false;
        }
        match self {
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => ring::pbkdf2::verify(
                ring::pbkdf2::PBKDF2_HMAC_SHA512,
                *iterations,
                salt,
                password,
                hash,
            )
            .is_ok(),
            PasswordHash::Sha512 { salt, hash } => {
                let mut context = ring::digest::Context::new(&ring::digest::SHA512);
                context.update(password);
                context.update(salt);
                constant_time_eq(context.finish().as_ref(), hash)
            }
        }
    }

    /// Parses the part after `user:`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split('$').collect();
        match fields.as_slice() {
            ["", "7", iterations, salt, hash] => {
                let iterations = iterations
                    .parse::<u32>()
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| format!("invalid PBKDF2 iteration count {iterations:?}"))?;
                Ok(PasswordHash::Pbkdf2Sha512 {
                    iterations,
                    salt: decode_salt(salt)?,
                    hash: decode_hash(hash)?,
                })
            }
            ["", "6", salt, hash] => Ok(PasswordHash::Sha512 {
                salt: decode_salt(salt)?,
                hash: decode_hash(hash)?,
            }),
            ["", kind, ..] if *kind == "6" || *kind == "7" => Err(format!(
                "a ${kind}$ hash has the wrong number of '$'-separated fields"
            )),
            _ => Err(
                "not a hashed password (expected $7$<iterations>$<salt>$<hash> or $6$<salt>$<hash>; \
                 plain-text files must be converted with mosquitto_passwd -U)"
                    .to_string(),
            ),
        }
    }
}

impl fmt::Display for PasswordHash {
    /// The text after `user:` in the file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => write!(
                f,
                "$7${iterations}${}${}",
                BASE64.encode(salt),
                BASE64.encode(hash)
            ),
            PasswordHash::Sha512 { salt, hash } => {
                write!(f, "$6${}${}", BASE64.encode(salt), BASE64.encode(hash))
            }
        }
    }
}

fn decode_salt(text: &str) -> Result<Vec<u8>, String> {
    let salt = BASE64
        .decode(text)
        .map_err(|e| format!("salt is not valid base64: {e}"))?;
    // Mosquitto refuses any other salt length, so a file it would refuse is refused here too.
    if salt.len() != SALT_LEN {
        return Err(format!("salt is {} bytes, expected {SALT_LEN}", salt.len()));
    }
    Ok(salt)
}

fn decode_hash(text: &str) -> Result<Vec<u8>, String> {
    let hash = BASE64
        .decode(text)
        .map_err(|e| format!("hash is not valid base64: {e}"))?;
    if hash.len() != HASH_LEN {
        return Err(format!("hash is {} bytes, expected {HASH_LEN}", hash.len()));
    }
    Ok(hash)
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// The users of a password file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PasswordFile {
    entries: Vec<(String, PasswordHash)>,
}

impl PasswordFile {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the file's text. Blank lines and lines starting with `#` are skipped; any other
    /// line must be `user:hash`, and a user may appear once. `file_name` is used in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<Self, PasswordFileError> {
        let mut file = PasswordFile::new();
        for (index, raw_line) in text.lines().enumerate() {
            let error = |reason: String| PasswordFileError::Parse {
                file: file_name.to_string(),
                line: index + 1,
                reason,
            };
            let line = raw_line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((username, hash)) = line.split_once(':') else {
                return Err(error("expected user:hash".to_string()));
            };
            let username = username.trim();
            if username.is_empty() {
                return Err(error("empty username".to_string()));
            }
            if file.contains(username) {
                return Err(error(format!("user {username:?} appears twice")));
            }
            let hash = PasswordHash::parse(hash.trim())
                .map_err(|reason| error(format!("user {username:?}: {reason}")))?;
            file.entries.push((username.to_string(), hash));
        }
        Ok(file)
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PasswordFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PasswordFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes the file (to a temporary file beside it, then renamed over it, so a reader
    /// never sees half a file).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PasswordFileError> {
        let path = path.as_ref();
        let write_error = |source| PasswordFileError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, self.to_string()).map_err(write_error)?;
        std::fs::rename(&temporary, path).map_err(write_error)
    }

    /// Whether `password` is the password of `username`. An unknown user costs the same
    /// PBKDF2 work as a known one, so timing does not reveal which users exist.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        match self.get(username) {
            Some(hash) => hash.verify(password),
            None => {
                let decoy = PasswordHash::Pbkdf2Sha512 {
                    iterations: NonZeroU32::MIN.saturating_add(DEFAULT_ITERATIONS - 1),
                    salt: vec![0; SALT_LEN],
                    hash: vec![0; HASH_LEN],
                };
                let _ = decoy.verify(password);
                false
            }
        }
    }

    /// Adds `username` or replaces its password, hashed as `mosquitto_passwd` does.
    pub fn set_password(
        &mut self,
        username: &str,
        password: &[u8],
    ) -> Result<(), PasswordFileError> {
        self.set_password_with_iterations(username, password, DEFAULT_ITERATIONS)
    }

    /// As [`set_password`](Self::set_password) with a chosen PBKDF2 iteration count.
    pub fn set_password_with_iterations(
        &mut self,
        username: &str,
        password: &[u8],
        iterations: u32,
    ) -> Result<(), PasswordFileError> {
        if username.is_empty()
            || username.contains([':', '\n', '\r'])
            || username.trim() != username
        {
            return Err(PasswordFileError::InvalidUsername(username.to_string()));
        }
        let hash = PasswordHash::create(password, iterations)?;
        match self.entries.iter_mut().find(|(name, _)| name == username) {
            Some(entry) => entry.1 = hash,
            None => self.entries.push((username.to_string(), hash)),
        }
        Ok(())
    }

    /// Removes `username`; returns whether it was present.
    pub fn remove(&mut self, username: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(name, _)| name != username);
        self.entries.len() != before
    }

    pub fn contains(&self, username: &str) -> bool {
        self.get(username).is_some()
    }

    pub fn get(&self, username: &str) -> Option<&PasswordHash> {
        self.entries
            .iter()
            .find(|(name, _)| name == username)
            .map(|(_, hash)| hash)
    }

    /// The usernames, in file order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for PasswordFile {
    /// The file's text: one `user:hash` line per user.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (username, hash) in &self.entries {
            writeln!(f, "{username}:{hash}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by `mosquitto_passwd -c -b FILE alice secret` (Mosquitto 2.0.11).
    const ALICE_PBKDF2: &str = "alice:$7$101$gGGclXW0w8mePe7W$gjrPoVxlrk1l5ZKa6APdb1FkmhPaINrWUbeCIbtpGWoW7Vvzw45TNBq4QkH3z1fJ0ijOq9p2e8MbGfcFy41Svg==";

    #[test]
    fn a_mosquitto_passwd_pbkdf2_entry_verifies_the_right_password_only() {
        let file = PasswordFile::parse(ALICE_PBKDF2, "pw").unwrap();
        assert!(file.verify("alice", b"secret"));
        assert!(!file.verify("alice", b"secreT"));
        assert!(!file.verify("alice", b""));
        assert!(!file.verify("bob", b"secret"));
    }

    #[test]
    fn a_sha512_entry_hashes_password_then_salt() {
        let salt = b"0123456789ab".to_vec();
        let mut context = ring::digest::Context::new(&ring::digest::SHA512);
        context.update(b"pw");
        context.update(&salt);
        let line = format!(
            "u:$6${}${}",
            BASE64.encode(&salt),
            BASE64.encode(context.finish())
        );
        let file = PasswordFile::parse(&line, "pw").unwrap();
        assert!(file.verify("u", b"pw"));
        assert!(!file.verify("u", b"pW"));
        assert_eq!(file.to_string(), format!("{line}\n"));
    }

    #[test]
    fn created_entries_have_mosquitto_passwd_shape_and_round_trip() {
        let mut file = PasswordFile::new();
        file.set_password("carol", b"hunter2").unwrap();
        let text = file.to_string();
        let fields: Vec<&str> = text.trim_end().split('$').collect();
        assert_eq!(fields[0], "carol:");
        assert_eq!(fields[1], "7");
        assert_eq!(fields[2], "101");
        assert_eq!(fields[3].len(), 16, "12-byte salt is 16 base64 characters");
        assert_eq!(fields[4].len(), 88, "64-byte hash is 88 base64 characters");
        let reparsed = PasswordFile::parse(&text, "pw").unwrap();
        assert!(reparsed.verify("carol", b"hunter2"));
        assert_eq!(reparsed, file);
    }

    #[test]
    fn set_password_replaces_and_remove_deletes_keeping_order() {
        let mut file = PasswordFile::new();
        file.set_password("a", b"1").unwrap();
        file.set_password("b", b"2").unwrap();
        file.set_password("a", b"3").unwrap();
        assert_eq!(file.usernames().collect::<Vec<_>>(), ["a", "b"]);
        assert!(file.verify("a", b"3"));
        assert!(!file.verify("a", b"1"));
        assert!(file.remove("a"));
        assert!(!file.remove("a"));
        assert_eq!(file.usernames().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn passwords_with_nul_bytes_are_refused() {
        let mut file = PasswordFile::new();
        assert!(matches!(
            file.set_password("u", b"a\0b"),
            Err(PasswordFileError::NulInPassword)
        ));
        file.set_password("u", b"a").unwrap();
        assert!(!file.verify("u", b"a\0"));
        assert!(!file.verify("u", b"a\0b"));
    }

    #[test]
    fn bad_usernames_are_refused() {
        let mut file = PasswordFile::new();
        for name in ["", "a:b", "a\nb", " a"] {
            assert!(matches!(
                file.set_password(name, b"x"),
                Err(PasswordFileError::InvalidUsername(_))
            ));
        }
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = format!("# users\n\n{ALICE_PBKDF2}\r\n");
        let file = PasswordFile::parse(&text, "pw").unwrap();
        assert_eq!(file.len(), 1);
    }

    #[test]
    fn bad_lines_are_reported_with_file_and_line_number() {
        let cases = [
            ("\nnocolon\n", 2, "expected user:hash"),
            ("u:plaintext", 1, "not a hashed password"),
            ("u:$7$0$AAAAAAAAAAAAAAAA$AA==", 1, "iteration count"),
            ("u:$7$101$!!!$AA==", 1, "salt is not valid base64"),
            ("u:$7$101$AAAA$AA==", 1, "salt is 3 bytes"),
            ("u:$7$101$AAAAAAAAAAAAAAAA$AA==", 1, "hash is 1 bytes"),
            ("u:$6$AAAAAAAAAAAAAAAA", 1, "wrong number"),
            (":$6$AAAA$AAAA", 1, "empty username"),
        ];
        for (text, line, needle) in cases {
            let error = PasswordFile::parse(text, "passwd").unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("passwd:{line}: ")),
                "{text:?}: {message}"
            );
            assert!(message.contains(needle), "{text:?}: {message}");
        }
        let twice = format!("{ALICE_PBKDF2}\n{ALICE_PBKDF2}\n");
        let message = PasswordFile::parse(&twice, "pw").unwrap_err().to_string();
        assert!(
            message.contains("pw:2: user \"alice\" appears twice"),
            "{message}"
        );
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = std::env::temp_dir().join(format!("ferromqtt-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passwd");
        let mut file = PasswordFile::new();
        file.set_password("dave", b"pass").unwrap();
        file.save(&path).unwrap();
        let loaded = PasswordFile::load(&path).unwrap();
        assert!(loaded.verify("dave", b"pass"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            PasswordFile::load(&path),
            Err(PasswordFileError::Read { .. })
        ));
    }

    #[test]
    fn debug_output_never_shows_hash_bytes() {
        let file = PasswordFile::parse(ALICE_PBKDF2, "pw").unwrap();
        let debug = format!("{file:?}");
        assert!(!debug.contains("gjrPo"), "{debug}");
        assert!(debug.contains("Pbkdf2Sha512"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_the_parser(text in ".{0,300}") {
            let _ = PasswordFile::parse(&text, "fuzz");
            let _ = PasswordHash::parse(&text);
        }

        #[test]
        fn written_entries_read_back_and_verify(
            username in "[a-zA-Z0-9_.@-]{1,20}",
            password in proptest::collection::vec(1u8.., 0..40),
        ) {
            let mut file = PasswordFile::new();
            file.set_password_with_iterations(&username, &password, 2).unwrap();
            let reread = PasswordFile::parse(&file.to_string(), "pw").unwrap();
            proptest::prop_assert!(reread.verify(&username, &password));
            let mut longer = password.clone();
            longer.push(b'x');
            proptest::prop_assert!(!reread.verify(&username, &longer));
            let mut with_nul = password.clone();
            with_nul.push(0);
            proptest::prop_assert!(!reread.verify(&username, &with_nul));
        }
    }
}
