//! `volley-test-servers ws [ADDR]`: runs a test server in the foreground (benchmarks use it).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.get(1).map_or("127.0.0.1:0", String::as_str);
    match args.first().map(String::as_str) {
        Some("ws") => {
            let threads = std::env::var("THREADS")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(1);
            let server = test_servers::ws::WsServer::start_on(addr, threads)
                .unwrap_or_else(|e| fail(&format!("cannot listen on {addr}: {e}")));
            println!("{}", server.url());
            std::thread::park();
        }
        _ => fail("usage: volley-test-servers ws [ADDR]"),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2);
}
