//! The egress forwarder: with `--egress`, a stdio skill that declares network access gets
//! `HTTP(S)_PROXY` pointing at a loopback port of the runtime, and each connection to it
//! is relayed byte for byte to `perstack proxy`'s Unix socket. The proxy applies its
//! allowlist (CONNECT for https, absolute-form for http); the skill's confinement lets it
//! connect to this port only.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use perstack_core::egress::Egress;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixStream};
use tokio::task::JoinHandle;

/// What a client gets when the proxy's socket cannot be reached.
const UNREACHABLE: &[u8] = b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\n\
connection: close\r\ncontent-length: 49\r\n\r\nperstack: the egress proxy socket is unreachable\n";

/// A running forwarder; dropping it stops accepting.
#[derive(Debug)]
pub(crate) struct Forwarder {
    port: u16,
    accept: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on an ephemeral loopback port and relays to `egress`'s socket.
    pub(crate) async fn start(egress: &Egress) -> std::io::Result<Forwarder> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let socket: PathBuf = egress.socket().to_path_buf();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let socket = socket.clone();
                tokio::spawn(async move {
                    match UnixStream::connect(&socket).await {
                        Ok(mut proxy) => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut proxy).await;
                        }
                        Err(e) => {
                            tracing::warn!(socket = %socket.display(), error = %e, "egress forwarder cannot reach the proxy");
                            let _ = client.write_all(UNREACHABLE).await;
                        }
                    }
                });
            }
        });
        Ok(Forwarder { port, accept })
    }

    /// The loopback port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The proxy URL for the skill's environment.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpStream, UnixListener};

    #[tokio::test]
    async fn relays_bytes_both_ways_and_says_when_the_proxy_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("egress.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf.map(|b| b.to_ascii_uppercase()))
                .await
                .unwrap();
        });
        let egress = Egress::parse(&format!("unix://{}", path.display())).unwrap();
        let fwd = Forwarder::start(&egress).await.unwrap();
        assert_eq!(fwd.url(), format!("http://127.0.0.1:{}", fwd.port()));
        let mut c = TcpStream::connect(("127.0.0.1", fwd.port())).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"HELLO");

        std::fs::remove_file(&path).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", fwd.port())).await.unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        assert_eq!(answer.split("\r\n\r\n").nth(1).unwrap().len(), 49);
    }
}
