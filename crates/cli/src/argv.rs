//! Secrets are never accepted on the command line: they would be visible in
//! `ps` and shell history. A secret-looking flag is refused before clap
//! parses anything, naming the flag and never echoing its value (clap's own
//! errors print the offending value).

/// Flags that would carry a secret, refused in every subcommand.
pub const SECRET_FLAGS: &[&str] = &[
    "--spending-key",
    "--secret",
    "--secret-key",
    "--private-key",
    "--session-key",
    "--node-key",
    "--entropy",
];

/// How to pass a secret instead.
const INSTEAD: &str = "use --key-file PATH (mode 0600) or --key-stdin";

/// The first secret flag in `args` (`--flag VALUE` or `--flag=VALUE`),
/// as its bare name. Arguments after `--` are not flags.
pub fn secret_flag<I, S>(args: I) -> Option<&'static str>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    for arg in args {
        let arg = arg.as_ref().to_string_lossy();
        if arg == "--" {
            return None;
        }
        let name = arg.split_once('=').map_or(&*arg, |(n, _)| n);
        if let Some(flag) = SECRET_FLAGS.iter().copied().find(|f| *f == name) {
            return Some(flag);
        }
    }
    None
}

/// The error for a refused secret flag: the flag's name only.
pub fn refusal(flag: &str) -> String {
    format!(
        "error: {flag} is refused: secrets are never accepted on the command line \
         (visible in `ps` and shell history); {}",
        if flag == "--entropy" {
            "pipe it to `veil ceremony contribute --entropy-stdin`"
        } else {
            INSTEAD
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_both_spellings_and_stops_at_double_dash() {
        let f = |a: &[&str]| secret_flag(a.iter());
        assert_eq!(
            f(&["veil", "wallet", "--spending-key", "ab"]),
            Some("--spending-key")
        );
        assert_eq!(f(&["veil", "--secret=ab"]), Some("--secret"));
        assert_eq!(f(&["veil", "wallet", "--key-file", "k"]), None);
        assert_eq!(f(&["veil", "--secretive"]), None);
        assert_eq!(f(&["veil", "--", "--secret", "x"]), None);
        assert!(!refusal("--secret").contains("ab"));
    }
}
