//! What libpq reads besides the URL: the `PG*` environment variables, for
//! every setting the URL leaves out, and the password file (`~/.pgpass`, or
//! `PGPASSFILE`), for a password neither gives. Users of `psql` keep their
//! connection settings there, and a password in the environment or a file
//! stays out of the process list and the shell's history, where a URL
//! argument shows it.
//!
//! Precedence is libpq's: the URL, then the environment, then the file.
//! `PGSSLMODE` and `PGSSLROOTCERT` are read with the TLS settings (`tls`).

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::Config;

use super::connect::DEFAULT_PORT;

/// Fills in what `config` (parsed from the URL) leaves unset from the
/// environment, which `var` reads (`std::env::var`, or a table in tests).
///
/// # Errors
///
/// A variable that does not parse, named with its value: `invalid PGPORT
/// "x": not a port number`.
pub(super) fn apply(
    config: &mut Config,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    // A variable counts when the URL left its setting out and it is set
    // and not empty.
    let unset_in_url = |left_out: bool, name: &str| {
        if left_out {
            var(name).filter(|v| !v.is_empty())
        } else {
            None
        }
    };
    if let Some(hosts) = unset_in_url(config.get_hosts().is_empty(), "PGHOST") {
        for host in hosts.split(',') {
            config.host(host);
        }
    }
    if let Some(addrs) = unset_in_url(config.get_hostaddrs().is_empty(), "PGHOSTADDR") {
        for addr in addrs.split(',') {
            let ip = addr
                .trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("invalid PGHOSTADDR {addr:?}: not an IP address"))?;
            config.hostaddr(ip);
        }
    }
    if let Some(ports) = unset_in_url(config.get_ports().is_empty(), "PGPORT") {
        for port in ports.split(',') {
            // An empty entry is the default port, as in libpq's lists.
            let port = match port.trim() {
                "" => DEFAULT_PORT,
                p => p
                    .parse()
                    .map_err(|_| format!("invalid PGPORT {port:?}: not a port number"))?,
            };
            config.port(port);
        }
    }
    if let Some(user) = unset_in_url(config.get_user().is_none(), "PGUSER") {
        config.user(user);
    }
    if let Some(db) = unset_in_url(config.get_dbname().is_none(), "PGDATABASE") {
        config.dbname(db);
    }
    if let Some(password) = unset_in_url(config.get_password().is_none(), "PGPASSWORD") {
        config.password(password);
    }
    if let Some(name) = unset_in_url(config.get_application_name().is_none(), "PGAPPNAME") {
        config.application_name(name);
    }
    if let Some(options) = unset_in_url(config.get_options().is_none(), "PGOPTIONS") {
        config.options(options);
    }
    let timeout = unset_in_url(config.get_connect_timeout().is_none(), "PGCONNECT_TIMEOUT");
    if let Some(secs) = timeout {
        let secs: i64 = secs
            .trim()
            .parse()
            .map_err(|_| format!("invalid PGCONNECT_TIMEOUT {secs:?}: not a number of seconds"))?;
        // Zero or less waits for ever, as in libpq.
        if secs > 0 {
            config.connect_timeout(Duration::from_secs(secs.unsigned_abs()));
        }
    }
    Ok(())
}

/// Where the password file is: `PGPASSFILE`, or `~/.pgpass`.
pub(super) fn password_file(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    match var("PGPASSFILE").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => var("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| Path::new(&home).join(".pgpass")),
    }
}

/// The connection a password is looked up for.
pub(super) struct Login<'a> {
    /// The host as the file names it: the name or address, or `localhost`
    /// for the default Unix socket directory, or another directory's path.
    pub(super) host: &'a str,
    /// The port.
    pub(super) port: u16,
    /// The database (the user's name when none is given).
    pub(super) database: &'a str,
    /// The user.
    pub(super) user: &'a str,
}

/// The password the file at `path` holds for `login`, if any.
///
/// # Errors
///
/// A file that exists but is not used, and why: it is not a plain file,
/// or others may read it (libpq's rule: `chmod 0600`), or it cannot be
/// read. A missing file is no error.
pub(super) fn password_from_file(path: &Path, login: &Login<'_>) -> Result<Option<String>, String> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("password file {} not used: {e}", path.display())),
    };
    if !meta.is_file() {
        return Err(format!(
            "password file {} not used: it is not a plain file",
            path.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "password file {} not used: group or others may read it (chmod 0600 it)",
            path.display()
        ));
    }
    let text = fs::read_to_string(path)
        .map_err(|e| format!("password file {} not used: {e}", path.display()))?;
    Ok(find_password(&text, login))
}

/// The password of the first line of a password file that matches
/// `login`: `host:port:database:user:password`, where `*` matches
/// anything and `\` escapes a `:` or a `\`.
fn find_password(text: &str, login: &Login<'_>) -> Option<String> {
    let port = login.port.to_string();
    let wanted = [login.host, port.as_str(), login.database, login.user];
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let fields = split_fields(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want);
            // A `:` past the fourth belongs to the password.
            matches.then(|| fields[4..].join(":"))
        })
}

/// A password file line's fields, unescaped.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::str::FromStr;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn applied(url: &str, pairs: &[(&str, &str)]) -> Result<Config, String> {
        let mut config = Config::from_str(url).map_err(|e| e.to_string())?;
        apply(&mut config, env(pairs))?;
        Ok(config)
    }

    #[test]
    fn the_environment_fills_in_what_the_url_leaves_out() {
        let config = applied(
            "postgres:///",
            &[
                ("PGHOST", "db.example,/run/pg"),
                ("PGPORT", "6000,"),
                ("PGUSER", "alice"),
                ("PGDATABASE", "shop"),
                ("PGPASSWORD", "secret"),
                ("PGAPPNAME", "till"),
                ("PGCONNECT_TIMEOUT", "7"),
            ],
        )
        .expect("valid");
        assert_eq!(config.get_hosts().len(), 2);
        assert_eq!(config.get_ports(), [6000, DEFAULT_PORT]);
        assert_eq!(config.get_user(), Some("alice"));
        assert_eq!(config.get_dbname(), Some("shop"));
        assert_eq!(config.get_password(), Some(&b"secret"[..]));
        assert_eq!(config.get_application_name(), Some("till"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(7)));
    }

    #[test]
    fn the_url_wins_over_the_environment() {
        let config = applied(
            "postgres://bob:pw@here:5433/books",
            &[
                ("PGHOST", "there"),
                ("PGPORT", "1"),
                ("PGUSER", "alice"),
                ("PGDATABASE", "shop"),
                ("PGPASSWORD", "x"),
            ],
        )
        .expect("valid");
        assert_eq!(config.get_ports(), [5433]);
        assert_eq!(config.get_user(), Some("bob"));
        assert_eq!(config.get_dbname(), Some("books"));
        assert_eq!(config.get_password(), Some(&b"pw"[..]));
        assert_eq!(config.get_hosts().len(), 1);
    }

    #[test]
    fn a_bad_variable_is_named_with_its_value() {
        let err = applied("postgres:///", &[("PGPORT", "eighty")]).err();
        assert_eq!(
            err.as_deref(),
            Some("invalid PGPORT \"eighty\": not a port number")
        );
        let err = applied("postgres:///", &[("PGHOSTADDR", "nowhere")]).err();
        assert_eq!(
            err.as_deref(),
            Some("invalid PGHOSTADDR \"nowhere\": not an IP address")
        );
        let err = applied("postgres:///", &[("PGCONNECT_TIMEOUT", "soon")]).err();
        assert_eq!(
            err.as_deref(),
            Some("invalid PGCONNECT_TIMEOUT \"soon\": not a number of seconds")
        );
    }

    #[test]
    fn the_password_file_is_pgpassfile_or_in_home() {
        assert_eq!(
            password_file(env(&[("PGPASSFILE", "/etc/pw"), ("HOME", "/home/a")])),
            Some(PathBuf::from("/etc/pw"))
        );
        assert_eq!(
            password_file(env(&[("HOME", "/home/a")])),
            Some(PathBuf::from("/home/a/.pgpass"))
        );
        assert_eq!(password_file(env(&[])), None);
    }

    const LOGIN: Login<'static> = Login {
        host: "db.example",
        port: 5432,
        database: "shop",
        user: "alice",
    };

    #[test]
    fn the_first_matching_line_gives_the_password() {
        let text = "# a comment\n\
                    other:5432:shop:alice:no\n\
                    db.example:5432:books:alice:no\n\
                    db.example:*:shop:alice:yes:with\\:colons\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            find_password(text, &LOGIN).as_deref(),
            Some("yes:with:colons")
        );
        let bob = Login {
            user: "bob",
            ..LOGIN
        };
        assert_eq!(find_password(text, &bob).as_deref(), Some("fallback"));
        assert_eq!(find_password("db.example:5432:shop:alice\n", &LOGIN), None);
    }

    #[test]
    fn escaped_colons_and_backslashes_are_part_of_a_field() {
        assert_eq!(split_fields(r"a\:b:c\\d:e"), ["a:b", r"c\d", "e"]);
    }

    #[test]
    fn a_file_others_may_read_is_not_used() {
        let dir = std::env::temp_dir().join(format!("aio-pgpass-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temporary directory");
        let path = dir.join("pgpass");
        fs::write(&path, "*:*:*:*:secret\n").expect("write the file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = password_from_file(&path, &LOGIN).expect_err("a readable file is refused");
        assert!(
            err.contains("not used: group or others may read it"),
            "{err}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            password_from_file(&path, &LOGIN),
            Ok(Some("secret".to_string()))
        );
        assert_eq!(password_from_file(&dir.join("missing"), &LOGIN), Ok(None));
        let err = password_from_file(&dir, &LOGIN).expect_err("a directory is refused");
        assert!(err.contains("not used: it is not a plain file"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
