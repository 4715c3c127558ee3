//! The TCP capability end to end: the example Redis plugin (`plugins/redis`, a RESP2 client
//! compiled into the scenario) against a real `redis-server` started here on a loopback port.
//! Redis's own `INFO stats` is the witness: commands it processed, connections it accepted and
//! bytes it read and wrote.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    check, component, on_a_free_port, port_free_now, read_json, run_with_summary, scratch,
    try_read_until_line, volley, Child,
};

/// Where Debian's `redis-server` is: on PATH or in /usr/bin. Panics naming the package when
/// absent: these tests must not pass by skipping.
fn redis_binary() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not installed: apt-get install redis-server (.ci/run installs it)"
            )
        })
}

/// A `redis-server` on 127.0.0.1 with nothing persisted, killed on drop, plus one admin
/// connection (plain) for the test's own queries, so they add no connections while Volley runs.
struct Redis {
    _child: Child,
    /// The plain port.
    port: u16,
    /// The TLS port, when started with TLS.
    tls_port: Option<u16>,
    admin: Admin,
}

impl Redis {
    fn start() -> Redis {
        Redis::start_with(None)
    }

    /// With `tls` = (certificate, key) PEM files, also listens with TLS on another port.
    fn start_with(tls: Option<(&Path, &Path)>) -> Redis {
        let binary = redis_binary();
        // redis-server cannot pick its port and report it: it is given ports that were free a
        // moment ago, and if another process took one in between it exits saying so and other
        // ports are tried. Its own "Ready" log line, printed once every listener is bound, is the
        // signal that the ports are its own.
        on_a_free_port(|port| {
            let mut cmd = Command::new(&binary);
            cmd.arg("--port")
                .arg(port.to_string())
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(scratch("redis"));
            let tls_port = tls.map(|(cert, key)| {
                let tls_port = port_free_now();
                cmd.arg("--tls-port")
                    .arg(tls_port.to_string())
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .args(["--tls-auth-clients", "no"]);
                tls_port
            });
            let mut child = Child::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::null()));
            let stdout = child.stdout.take().unwrap();
            match try_read_until_line(
                stdout,
                "Ready to accept connections",
                Duration::from_secs(20),
            ) {
                Ok(_) => {}
                Err(log) if log.contains("Address already in use") => return None,
                Err(log) => panic!("{} exited before it was ready:\n{log}", binary.display()),
            }
            let admin = Admin::connect(port).expect("redis-server answers PING");
            Some(Redis {
                _child: child,
                port,
                tls_port,
                admin,
            })
        })
    }

    /// `INFO stats`, with the size of the command that asked and of its reply.
    fn stats(&mut self) -> Stats {
        let admin_commands = self.admin.sent;
        let (info, sent, received) = self.admin.command(&["INFO", "stats"]);
        let field = |name: &str| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("no {name} in INFO stats:\n{info}"))
                .trim()
                .parse()
                .unwrap()
        };
        Stats {
            connections: field("total_connections_received"),
            commands: field("total_commands_processed"),
            input_bytes: field("total_net_input_bytes"),
            output_bytes: field("total_net_output_bytes"),
            query_bytes: sent,
            reply_bytes: received,
            admin_commands,
        }
    }

    fn get(&mut self, key: &str) -> String {
        self.admin.command(&["GET", key]).0
    }
}

/// Counters from `INFO stats` (each as of just before that INFO ran).
#[derive(Debug, Clone, Copy)]
struct Stats {
    connections: u64,
    commands: u64,
    input_bytes: u64,
    output_bytes: u64,
    /// Bytes of the INFO command itself (counted in `input_bytes`).
    query_bytes: u64,
    /// Bytes of its reply (counted in the next `output_bytes`).
    reply_bytes: u64,
    /// The test's own commands before this INFO.
    admin_commands: u64,
}

impl Stats {
    /// Commands Redis processed for others than the test between `self` and `later`.
    fn commands_until(&self, later: &Stats) -> u64 {
        (later.commands - self.commands) - (later.admin_commands - self.admin_commands)
    }
}

/// A plain connection speaking just enough RESP for the test's queries.
struct Admin {
    reader: BufReader<TcpStream>,
    /// Commands sent so far (the first PING not included).
    sent: u64,
}

impl Admin {
    /// Connects and checks PING gets PONG; `None` while the server is not up.
    fn connect(port: u16) -> Option<Admin> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut admin = Admin {
            reader: BufReader::new(stream),
            sent: 0,
        };
        admin.reader.get_mut().write_all(b"PING\r\n").ok()?;
        let mut line = String::new();
        admin.reader.read_line(&mut line).ok()?;
        (line == "+PONG\r\n").then_some(admin)
    }

    /// Sends a command; its reply as text (a bulk string's content, an integer's digits), the
    /// bytes sent and the bytes received.
    fn command(&mut self, args: &[&str]) -> (String, u64, u64) {
        let mut query = format!("*{}\r\n", args.len());
        for a in args {
            query += &format!("${}\r\n{a}\r\n", a.len());
        }
        self.reader.get_mut().write_all(query.as_bytes()).unwrap();
        self.sent += 1;
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let mut received = line.len() as u64;
        let text = match line.as_bytes()[0] {
            b'$' if line.starts_with("$-1\r\n") => String::new(),
            b'$' => {
                let len: usize = line[1..].trim().parse().unwrap();
                let mut body = vec![0; len + 2];
                self.reader.read_exact(&mut body).unwrap();
                received += body.len() as u64;
                String::from_utf8(body[..len].to_vec()).unwrap()
            }
            b':' | b'+' => line[1..].trim().to_string(),
            _ => panic!("{args:?}: {line}"),
        };
        (text, query.len() as u64, received)
    }
}

/// Writes a test file running the Redis plugin against `addr` with `allowed` hosts and `body`.
fn test_file(dir: &Path, addr: &str, allowed: &str, body: &str, env: &str) -> PathBuf {
    let test = dir.join("redis.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\n{body}\n[sandbox]\nallowed-hosts = [{allowed}]\n[env]\nREDIS_ADDR = \"{addr}\"\n{env}\n",
            component("redis").display()
        ),
    )
    .unwrap();
    test
}

fn value(s: &serde_json::Value, metric: &str, stat: &str) -> f64 {
    s["metrics"][metric]["values"][stat]
        .as_f64()
        .unwrap_or_else(|| panic!("no {metric} {stat} in {}", s["metrics"]))
}

/// Commands the plugin sends per iteration: SET, GET, INCR, LPUSH, LTRIM, LRANGE.
const PER_ITERATION: u64 = 6;

#[test]
fn the_redis_plugin_speaks_resp_through_the_sandbox_and_counts_its_bytes() {
    let mut redis = Redis::start();
    let dir = scratch("tcp-redis");
    let addr = format!("127.0.0.1:{}", redis.port);
    let iterations = 30u64;
    let test = test_file(
        &dir,
        &addr,
        &format!("\"tcp://127.0.0.1:{}\"", redis.port),
        &format!(
            "vus = 2\niterations = {iterations}\n[thresholds]\n\"redis_cmds{{command:GET}}\" = [\"count=={iterations}\"]\n\"redis_cmd_duration{{command:INCR}}\" = [\"max<5000\"]\n"
        ),
        "",
    );
    let before = redis.stats();
    let (out, s) = run_with_summary(&test, &[], 0);
    let after = redis.stats();

    // Redis saw every iteration's INCR, and exactly the commands the plugin counted.
    assert_eq!(redis.get("volley:counter"), iterations.to_string());
    let commands = iterations * PER_ITERATION;
    assert_eq!(before.commands_until(&after), commands);
    assert_eq!(value(&s, "redis_cmds", "count"), commands as f64);
    assert_eq!(value(&s, "redis_cmd_duration", "count"), commands as f64);
    assert_eq!(
        value(&s, "redis_cmds{command:GET}", "count"),
        iterations as f64
    );
    assert_eq!(value(&s, "redis_errors", "rate"), 0.0);
    assert_eq!(
        check(&s, "GET returns what SET stored")["passes"],
        iterations
    );
    assert_eq!(
        check(&s, "LRANGE returns the newest item first")["passes"],
        iterations
    );
    assert_eq!(s["thresholds_passed"], true, "{}", out.stdout);
    assert_eq!(s["iterations"]["complete"], iterations);

    // Each VU kept its one connection across its iterations.
    let connections = after.connections - before.connections;
    assert!((1..=2).contains(&connections), "{connections} connections");

    // Bytes: exactly what Redis read from and wrote to Volley's connections.
    let volley_in = after.input_bytes - before.input_bytes - after.query_bytes;
    let volley_out = after.output_bytes - before.output_bytes - before.reply_bytes;
    assert_eq!(value(&s, "data_sent", "count"), volley_in as f64);
    assert_eq!(value(&s, "data_received", "count"), volley_out as f64);
    assert!(
        volley_in > commands * 14,
        "at least `*2\\r\\n$3\\r\\nGET\\r\\n` per command: {volley_in}"
    );

    for needle in ["CUSTOM", "redis_cmd_duration", "redis_cmds", "redis_errors"] {
        assert!(out.stdout.contains(needle), "{needle}:\n{}", out.stdout);
    }
}

#[test]
fn without_a_tcp_pattern_the_connection_is_refused_with_1400_and_never_opened() {
    let mut redis = Redis::start();
    let dir = scratch("tcp-denied");
    let addr = format!("127.0.0.1:{}", redis.port);
    // An http:// pattern for the same host and port grants no raw TCP.
    let test = test_file(
        &dir,
        &addr,
        &format!("\"http://127.0.0.1:{}\"", redis.port),
        "vus = 1\niterations = 3\n",
        "",
    );
    let before = redis.stats();
    let (out, s) = run_with_summary(&test, &[], 99);
    let after = redis.stats();
    assert_eq!(
        after.connections, before.connections,
        "no connection reached Redis"
    );
    assert_eq!(before.commands_until(&after), 0);
    let message = format!(
        "connect {addr}: host tcp://{addr} is not in the sandbox's allowed-hosts (error code 1400)"
    );
    assert_eq!(
        s["iteration_errors"][&message], 3,
        "{}",
        s["iteration_errors"]
    );
    assert_eq!(value(&s, "redis_errors", "rate"), 1.0);
    assert_eq!(value(&s, "redis_errors", "passes"), 3.0);
    assert!(
        s["metrics"].get("redis_cmds").is_none() || value(&s, "redis_cmds", "count") == 0.0,
        "no command was sent: {}",
        s["metrics"]
    );
    let sent = s["metrics"]["data_sent"]["values"]["count"].as_f64();
    assert!(sent.is_none_or(|b| b == 0.0), "nothing was sent: {sent:?}");
    assert!(out.stderr.contains("error code 1400"), "{}", out.stderr);
}

/// A CA (`DIR/ca.pem`) and a certificate for `localhost` signed by it (`DIR/cert.pem`,
/// `DIR/key.pem`).
fn localhost_pki(dir: &Path) -> (PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

#[test]
fn tls_connections_verify_the_server_and_count_the_bytes_on_the_wire() {
    let dir = scratch("tcp-tls");
    let (cert, key) = localhost_pki(&dir);
    let mut redis = Redis::start_with(Some((&cert, &key)));
    let tls_port = redis.tls_port.unwrap();
    let addr = format!("localhost:{tls_port}");
    let iterations = 8u64;
    let allowed = format!("\"tcp://localhost:{tls_port}\"");
    let body = format!("vus = 1\niterations = {iterations}\ntls-ca-file = \"ca.pem\"\n");
    let test = test_file(&dir, &addr, &allowed, &body, "REDIS_TLS = \"1\"");
    let before = redis.stats();
    let (_, s) = run_with_summary(&test, &[], 0);
    let after = redis.stats();
    assert_eq!(redis.get("volley:counter"), iterations.to_string());
    assert_eq!(after.connections - before.connections, 1);
    assert_eq!(value(&s, "redis_errors", "rate"), 0.0);
    assert_eq!(
        value(&s, "redis_cmds", "count"),
        (iterations * PER_ITERATION) as f64
    );
    // Redis counts the plaintext; Volley counts the TLS records, handshake included.
    let plain_in = after.input_bytes - before.input_bytes - after.query_bytes;
    let plain_out = after.output_bytes - before.output_bytes - before.reply_bytes;
    let (sent, received) = (
        value(&s, "data_sent", "count"),
        value(&s, "data_received", "count"),
    );
    assert!(sent > plain_in as f64 + 200.0, "{sent} vs {plain_in}");
    assert!(
        received > plain_out as f64 + 500.0,
        "{received} vs {plain_out}"
    );

    // Without the CA the handshake fails with k6's unknown-authority code, before any command.
    std::fs::write(
        &test,
        std::fs::read_to_string(&test)
            .unwrap()
            .replace("tls-ca-file = \"ca.pem\"", ""),
    )
    .unwrap();
    let (_, s) = run_with_summary(&test, &[], 99);
    let message = format!(
        "connect {addr}: tls: failed to verify certificate: x509: certificate signed by unknown authority (error code 1310)"
    );
    assert_eq!(
        s["iteration_errors"][&message], iterations,
        "{}",
        s["iteration_errors"]
    );
    assert_eq!(redis.get("volley:counter"), iterations.to_string());
}

#[test]
fn a_vu_cannot_hoard_connections_past_the_cap() {
    let mut redis = Redis::start();
    let dir = scratch("tcp-hoard");
    let addr = format!("127.0.0.1:{}", redis.port);
    let test = dir.join("hoard.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\n[scenarios.hoard]\nexecutor = \"per-vu-iterations\"\nvus = 1\niterations = 2\nexec = \"tcp-hoard\"\n[metrics]\ntcp_hoard_opened = \"counter\"\n[sandbox]\nallowed-hosts = [\"tcp://{addr}\"]\n[env]\nTCP_ADDR = \"{addr}\"\n",
            component("hostile").display()
        ),
    )
    .unwrap();
    let before = redis.stats();
    let (_, s) = run_with_summary(&test, &[], 0);
    let after = redis.stats();
    // 64 on the first iteration; the second finds them all still held.
    assert_eq!(value(&s, "tcp_hoard_opened", "count"), 64.0);
    assert_eq!(after.connections - before.connections, 64);
    assert_eq!(check(&s, "refused past the per-VU cap")["passes"], 2);
}

#[test]
fn connections_the_server_closes_fail_one_command_and_are_reopened() {
    let mut redis = Redis::start();
    let dir = scratch("tcp-killed");
    let addr = format!("127.0.0.1:{}", redis.port);
    let allowed = format!("\"tcp://{addr}\"");
    let test = test_file(&dir, &addr, &allowed, "vus = 2\niterations = 6000\n", "");
    let export = dir.join("summary.json");
    let before = redis.stats();
    let child = Child::spawn_piped(
        volley()
            .args(["run", test.to_str().unwrap(), "-q", "--summary-export"])
            .arg(&export),
    );
    // Once both VUs are at work (a few thousand iterations before the end), Redis drops every
    // client connection but the test's own.
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis.get("volley:counter").parse::<u64>().unwrap_or(0) < 100 || {
        let s = redis.stats();
        s.connections - before.connections < 2
    } {
        assert!(Instant::now() < deadline, "the VUs did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (killed, _, _) = redis
        .admin
        .command(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    assert_eq!(killed, "2", "both VUs' connections");
    // Both VUs notice and reconnect while the run goes on.
    while redis.stats().connections - before.connections < 4 {
        assert!(Instant::now() < deadline, "the VUs did not reconnect");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.finish().expect_code(0);
    let after = redis.stats();
    assert_eq!(after.connections - before.connections, 4, "{}", out.stderr);

    let s = read_json(&export);
    assert_eq!(s["iterations"]["complete"], 6000);
    let errors = s["iteration_errors"].as_object().unwrap();
    assert_eq!(
        errors.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        2,
        "one failed command per dropped connection: {errors:?}"
    );
    assert!(
        errors
            .keys()
            .all(|m| m.ends_with(": the server closed the connection")
                || m.contains("(error code 1220)")),
        "{errors:?}"
    );
    assert_eq!(value(&s, "redis_errors", "passes"), 2.0);
    // The two failed commands were sent (and maybe run, their replies lost) before the drop.
    let processed = before.commands_until(&after) as f64;
    let counted = value(&s, "redis_cmds", "count");
    assert!(
        (processed..=processed + 2.0).contains(&counted),
        "{counted} commands counted, {processed} processed"
    );
}
