//! Listening: the Unix socket (and an optional loopback TCP address), one hyper HTTP/1
//! connection per client with upgrades for `CONNECT`, and graceful shutdown.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use perstack_sandbox::net::{NetworkGuard, NetworkPolicy, client_builder};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::allow::Allowlist;
use crate::config::{ProxyConfig, SocketOptions};
use crate::error::ProxyError;
use crate::service::{State, Upstream, handle};

/// A bound proxy, ready to [`serve`](Proxy::serve).
#[derive(Debug)]
pub struct Proxy {
    state: Arc<State>,
    unix: Option<(UnixListener, PathBuf)>,
    tcp: Option<TcpListener>,
    grace: Duration,
}

impl Proxy {
    /// Resolves `--allow-private` names, builds the guarded clients and binds the listeners
    /// (the socket gets its mode and group before this returns).
    pub async fn bind(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        if config.socket.is_none() && config.listen.is_none() {
            return Err(ProxyError::NoListener);
        }
        if let Some(addr) = config.listen
            && !addr.ip().is_loopback()
        {
            return Err(ProxyError::NotLoopback(addr));
        }
        let mut private_ips: Vec<IpAddr> = Vec::new();
        for route in config.routes.iter().filter(|r| r.private) {
            match route.host.parse::<IpAddr>() {
                Ok(ip) => private_ips.push(ip),
                Err(_) => {
                    let ips = config.resolver.lookup(&route.host).await.map_err(|e| {
                        ProxyError::ResolvePrivate {
                            host: route.host.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    private_ips.extend(ips);
                }
            }
        }
        let upstream = |policy: NetworkPolicy| -> Result<Upstream, ProxyError> {
            let guard = Arc::new(NetworkGuard::new(policy, config.resolver.clone()));
            let client = client_builder(guard.clone())
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(config.connect_timeout)
                .read_timeout(config.read_timeout)
                .build()?;
            Ok(Upstream { guard, client })
        };
        let state = Arc::new(State {
            allowlist: Allowlist::new(&config.routes, &config.domains),
            strict: upstream(NetworkPolicy::default())?,
            private: upstream(NetworkPolicy {
                allowed_domains: None,
                allowed_addresses: private_ips,
            })?,
            sink: config.access_log.clone(),
            connect_timeout: config.connect_timeout,
        });
        let unix = match &config.socket {
            Some(options) => Some((bind_socket(options)?, options.path.clone())),
            None => None,
        };
        let tcp = match config.listen {
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ProxyError::Listener {
                            what: "bind",
                            target: addr.to_string(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        Ok(Proxy {
            state,
            unix,
            tcp,
            grace: config.shutdown_grace,
        })
    }

    /// The Unix socket's path, if one is bound.
    pub fn socket_path(&self) -> Option<&Path> {
        self.unix.as_ref().map(|(_, p)| p.as_path())
    }

    /// The loopback TCP address, if one is bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// for the configured grace period and removes the socket file.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let Proxy {
            state,
            unix,
            tcp,
            grace,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns = JoinSet::new();
        let unix_label: Arc<str> = Arc::from("unix");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = accept_unix(unix.as_ref().map(|(l, _)| l)) => match accepted {
                    Ok(stream) => {
                        spawn_connection(&mut conns, stream, unix_label.clone(), &state, &stop_rx);
                    }
                    Err(e) => accept_failed(&e).await,
                },
                accepted = accept_tcp(tcp.as_ref()) => match accepted {
                    Ok((stream, peer)) => {
                        let label: Arc<str> = Arc::from(peer.to_string());
                        spawn_connection(&mut conns, stream, label, &state, &stop_rx);
                    }
                    Err(e) => accept_failed(&e).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(tcp);
        if let Some((listener, path)) = unix {
            drop(listener);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!("cannot remove socket {}: {e}", path.display());
            }
        }
        let _ = stop_tx.send(true);
        let drained =
            tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                "{} connection(s) still open after {grace:?}; closing them",
                conns.len()
            );
        }
        conns.abort_all();
        Ok(())
    }
}

fn spawn_connection<I>(
    conns: &mut JoinSet<()>,
    io: I,
    label: Arc<str>,
    state: &Arc<State>,
    stop: &watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = state.clone();
    let mut stop = stop.clone();
    conns.spawn(async move {
        let service = service_fn(move |req| handle(state.clone(), label.clone(), req));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!("connection ended: {e}");
        }
    });
}

async fn accept_unix(listener: Option<&UnixListener>) -> io::Result<UnixStream> {
    match listener {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

async fn accept_tcp(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Logs an accept error and pauses briefly (out of descriptors must not spin the loop).
async fn accept_failed(e: &io::Error) {
    tracing::warn!("accepting a connection failed: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Binds the socket: a stale socket file is replaced (anything else at the path, or a live
/// socket, is an error), then mode and group are applied.
fn bind_socket(options: &SocketOptions) -> Result<UnixListener, ProxyError> {
    let path = &options.path;
    let err = |what: &'static str| {
        let target = path.display().to_string();
        move |source: io::Error| ProxyError::Listener {
            what,
            target,
            source,
        }
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ProxyError::Listener {
                    what: "bind",
                    target: path.display().to_string(),
                    source: io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "another process is serving this socket",
                    ),
                });
            }
            std::fs::remove_file(path).map_err(err("remove stale socket"))?;
        }
        Ok(_) => return Err(ProxyError::NotASocket(path.clone())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err("inspect")(e)),
    }
    let listener = UnixListener::bind(path).map_err(err("bind"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(options.mode))
        .map_err(err("chmod"))?;
    if let Some(gid) = options.group {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(err("chown"))?;
    }
    Ok(listener)
}
