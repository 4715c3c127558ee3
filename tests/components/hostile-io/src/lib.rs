//! A plugin that reaches for the host: it reads `/etc/passwd` (entry `default`) and opens a TCP
//! socket to `SOCKET_ADDR` (entry `socket`). It imports `wasi:filesystem` and `wasi:sockets`, so
//! the sandbox refuses it unless the user allows those imports — and even then nothing is
//! preopened and no socket may connect.

use volley_sdk::{check, env, Error, Scenario};

struct HostileIo;

impl Scenario for HostileIo {
    fn iteration(_data: &str) -> Result<(), Error> {
        let read = std::fs::read_to_string("/etc/passwd");
        check(&read, "host file unreadable", |r| r.is_err());
        Ok(())
    }

    fn exec(name: &str, _data: &str) -> Result<(), Error> {
        if name != "socket" {
            return Err(format!("no entry point '{name}'").into());
        }
        let addr = env("SOCKET_ADDR").ok_or("SOCKET_ADDR is not set")?;
        let conn = std::net::TcpStream::connect(addr.as_str());
        check(&conn, "socket refused", |c| c.is_err());
        Ok(())
    }
}

volley_sdk::scenario!(HostileIo);
