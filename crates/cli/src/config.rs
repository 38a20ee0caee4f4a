//! `--config FILE`: a command's flags read from a TOML file
//! (`docs/operations.md`, "Config files").
//!
//! Every long flag of the command is a key, spelled as the flag
//! (`price-per-kib`) or with underscores (`price_per_kib`): the file is
//! expanded into flags before clap parses anything, so a value in a file is
//! checked exactly as the same flag on the command line, and there is one
//! list of settings, clap's. A flag given on the command line replaces the
//! file's key. Unknown keys, keys that are not flags, and tables are refused
//! with the file's name and the key; nothing runs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ArgAction;

/// Why a config file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--config needs a file path")]
    MissingPath,
    #[error("--config {0}: {1}")]
    Read(PathBuf, String),
    #[error("--config {0}: not valid TOML: {1}")]
    Toml(PathBuf, String),
    #[error("--config {path}: unknown key `{key}` for `{command}` (keys are its flags: {known})")]
    UnknownKey {
        path: PathBuf,
        key: String,
        command: String,
        known: String,
    },
    #[error("--config {0}: key `{1}`: {2}")]
    Value(PathBuf, String, String),
    #[error("--config is given for `veil` itself; give it after a subcommand")]
    NoSubcommand,
}

/// `args` with the flags of the `--config` file, if any, inserted after the
/// subcommand that it configures (`veil node serve --config node.toml` →
/// `veil node serve --listen=… --config node.toml`).
pub fn expand(args: Vec<OsString>, root: &clap::Command) -> Result<Vec<OsString>, ConfigError> {
    let Some(path) = config_path(&args)? else {
        return Ok(args);
    };
    let (leaf, at) = subcommand(&args, root).ok_or(ConfigError::NoSubcommand)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError::Read(path.clone(), e.to_string()))?;
    let flags = file_flags(&path, &text, &leaf, root, &args)?;
    let mut out = args;
    out.splice(at..at, flags);
    Ok(out)
}

/// The value of `--config PATH` / `--config=PATH` (before any `--`).
fn config_path(args: &[OsString]) -> Result<Option<PathBuf>, ConfigError> {
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it
                .next()
                .map(PathBuf::from)
                .map(Some)
                .ok_or(ConfigError::MissingPath);
        }
        if let Some(p) = s.strip_prefix("--config=") {
            return Ok(Some(PathBuf::from(p)));
        }
    }
    Ok(None)
}

/// The deepest subcommand named in `args`, with its full name (`node
/// serve`), and the index just after its name.
fn subcommand(args: &[OsString], root: &clap::Command) -> Option<(Leaf, usize)> {
    let mut cmd = root;
    let mut names = Vec::new();
    let mut at = None;
    let mut skip_value = false;
    for (i, arg) in args.iter().enumerate().skip(1) {
        let s = arg.to_string_lossy();
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if let Some(long) = s.strip_prefix("--") {
            // `--flag VALUE`: the value is not a subcommand.
            skip_value = !long.contains('=') && takes_value(cmd, root, long);
            continue;
        }
        if s.starts_with('-') {
            continue;
        }
        match cmd.find_subcommand(&*s) {
            Some(sub) => {
                cmd = sub;
                names.push(sub.get_name().to_string());
                at = Some(i + 1);
            }
            None => break,
        }
    }
    let leaf = Leaf {
        name: names.join(" "),
        cmd: cmd.clone(),
    };
    at.map(|at| (leaf, at))
}

/// Whether `--long` (of `cmd`, or global) is followed by its value.
fn takes_value(cmd: &clap::Command, root: &clap::Command, long: &str) -> bool {
    cmd.get_arguments()
        .chain(root.get_arguments())
        .find(|a| a.get_long() == Some(long))
        .is_some_and(|a| a.get_action().takes_values())
}

/// The configured command.
struct Leaf {
    name: String,
    cmd: clap::Command,
}

/// The flags a file's keys stand for, minus those the command line gives.
fn file_flags(
    path: &Path,
    text: &str,
    leaf: &Leaf,
    root: &clap::Command,
    args: &[OsString],
) -> Result<Vec<OsString>, ConfigError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::Toml(path.to_path_buf(), e.to_string()))?;
    let mut flags = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = flag(leaf, root, &long).ok_or_else(|| ConfigError::UnknownKey {
            path: path.to_path_buf(),
            key: key.clone(),
            command: format!("veil {}", leaf.name),
            known: known(leaf),
        })?;
        if given(args, &long) {
            continue;
        }
        let bad = |why: &str| ConfigError::Value(path.to_path_buf(), key.clone(), why.to_string());
        flags.extend(values(&long, arg.get_action(), value, bad)?);
    }
    Ok(flags)
}

/// The long flag `long` of the leaf command (or a global one), if a file
/// may set it (not `--config` itself, not `--help`/`--version`).
fn flag<'a>(leaf: &'a Leaf, root: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    if matches!(long, "config" | "help" | "version") {
        return None;
    }
    leaf.cmd
        .get_arguments()
        .chain(root.get_arguments())
        .find(|a| a.get_long() == Some(long))
}

/// The keys a file may set for this command, for the error message.
fn known(leaf: &Leaf) -> String {
    let keys: Vec<&str> = leaf
        .cmd
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .filter(|l| !matches!(*l, "config" | "help" | "version"))
        .collect();
    keys.join(", ")
}

/// Whether the command line gives `--long` itself.
fn given(args: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    let with_value = format!("--{long}=");
    args.iter()
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| a == flag || a.starts_with(&with_value))
}

/// A key's value as flags: `true` for a switch, a scalar, or an array of
/// scalars for a repeatable flag.
fn values(
    long: &str,
    action: &ArgAction,
    value: &toml::Value,
    bad: impl Fn(&str) -> ConfigError,
) -> Result<Vec<OsString>, ConfigError> {
    let switch = matches!(action, ArgAction::SetTrue | ArgAction::SetFalse);
    match value {
        toml::Value::Boolean(b) if switch => Ok(if *b {
            vec![format!("--{long}").into()]
        } else {
            Vec::new()
        }),
        _ if switch => Err(bad("a switch: true or false")),
        toml::Value::Array(items) if matches!(action, ArgAction::Append) => items
            .iter()
            .map(|v| {
                scalar(v)
                    .map(|s| format!("--{long}={s}").into())
                    .ok_or_else(|| bad("arrays hold strings or numbers"))
            })
            .collect(),
        toml::Value::Array(_) => Err(bad("takes one value, not an array")),
        v => scalar(v)
            .map(|s| vec![format!("--{long}={s}").into()])
            .ok_or_else(|| bad("a string, a number or a boolean")),
    }
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn root() -> Command {
        Command::new("veil")
            .arg(
                Arg::new("dev-keys")
                    .long("dev-keys")
                    .action(ArgAction::SetTrue)
                    .global(true),
            )
            .arg(Arg::new("config").long("config").global(true))
            .subcommand(
                Command::new("node").subcommand(
                    Command::new("serve")
                        .arg(Arg::new("listen").long("listen"))
                        .arg(Arg::new("price-per-kib").long("price-per-kib"))
                        .arg(
                            Arg::new("insecure-plaintext")
                                .long("insecure-plaintext")
                                .action(ArgAction::SetTrue),
                        )
                        .arg(Arg::new("allow").long("allow").action(ArgAction::Append)),
                ),
            )
    }

    fn os(argv: &[&str]) -> Vec<OsString> {
        argv.iter().map(OsString::from).collect()
    }

    fn run(toml_text: &str, argv: &[&str]) -> Result<Vec<String>, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.toml");
        std::fs::write(&path, toml_text).expect("write");
        let mut args = os(argv);
        args.push("--config".into());
        args.push(path.clone().into());
        let out = expand(args, &root())?;
        Ok(out
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .filter(|a| !a.ends_with("node.toml") && a != "--config")
            .collect())
    }

    #[test]
    fn keys_become_flags_after_the_subcommand() {
        let out = run(
            "listen = \"127.0.0.1:1\"\nprice_per_kib = 3\ninsecure-plaintext = true\nallow = [\"a\", \"b\"]\ndev-keys = false\n",
            &["veil", "node", "serve"],
        );
        let out = out.expect("valid");
        assert_eq!(&out[..3], ["veil", "node", "serve"]);
        let mut flags = out[3..].to_vec();
        flags.sort();
        assert_eq!(
            flags,
            [
                "--allow=a",
                "--allow=b",
                "--insecure-plaintext",
                "--listen=127.0.0.1:1",
                "--price-per-kib=3"
            ]
        );
    }

    #[test]
    fn a_flag_on_the_command_line_replaces_the_key() {
        let out = run(
            "listen = \"file\"\nprice-per-kib = 3\n",
            &["veil", "node", "serve", "--listen", "cli"],
        );
        assert_eq!(
            out.expect("valid"),
            [
                "veil",
                "node",
                "serve",
                "--price-per-kib=3",
                "--listen",
                "cli"
            ]
        );
        let out = run(
            "listen = \"file\"\n",
            &["veil", "node", "serve", "--listen=cli"],
        );
        assert_eq!(
            out.expect("valid"),
            ["veil", "node", "serve", "--listen=cli"]
        );
    }

    #[test]
    fn unknown_keys_bad_values_and_bad_toml_are_refused() {
        let err = run("lisen = \"x\"\n", &["veil", "node", "serve"]).expect_err("typo");
        let msg = err.to_string();
        assert!(
            msg.contains("unknown key `lisen`") && msg.contains("veil node serve"),
            "{msg}"
        );
        assert!(msg.contains("listen"), "the known keys are listed: {msg}");
        for bad in [
            "insecure-plaintext = \"yes\"\n",
            "listen = [\"a\"]\n",
            "listen = { host = \"a\" }\n",
            "config = \"other.toml\"\n",
            "help = true\n",
            "listen = \n",
        ] {
            assert!(run(bad, &["veil", "node", "serve"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_config_no_change_and_config_needs_a_subcommand() {
        let args = os(&["veil", "node", "serve", "--listen", "x"]);
        assert_eq!(expand(args.clone(), &root()), Ok(args));
        let args = os(&["veil", "--config", "x.toml"]);
        assert_eq!(expand(args, &root()), Err(ConfigError::NoSubcommand));
        let args = os(&["veil", "node", "serve", "--config"]);
        assert_eq!(expand(args, &root()), Err(ConfigError::MissingPath));
    }

    #[test]
    fn config_may_come_before_the_subcommand() {
        let args = os(&["veil", "--config", "/nonexistent/x", "node", "serve"]);
        // The subcommand is found past the flag's value: the file is read.
        let err = expand(args, &root()).expect_err("missing file");
        assert!(matches!(err, ConfigError::Read(..)), "{err}");
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let args = os(&[
            "veil",
            "node",
            "serve",
            "--config",
            "/nonexistent/node.toml",
        ]);
        let err = expand(args, &root()).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/node.toml"), "{err}");
    }
}
