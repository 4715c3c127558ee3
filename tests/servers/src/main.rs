//! `volley-test-servers ws|grpc [ADDR]`: runs a test server in the foreground (benchmarks use
//! it); `THREADS` sets its worker threads (default 1). `grpc` speaks h2c.

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
        Some("grpc") => {
            let threads = std::env::var("THREADS")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(1);
            let server = test_servers::grpc::GrpcServer::start_on(addr, threads, None)
                .unwrap_or_else(|e| fail(&format!("cannot listen on {addr}: {e}")));
            println!("{}", server.target());
            std::thread::park();
        }
        _ => fail("usage: volley-test-servers ws|grpc [ADDR]"),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2);
}
