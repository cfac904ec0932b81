//! The local AWS stand-in: moto in server mode, from a project-local virtualenv.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// Pinned: the quirks the fixtures rely on were measured on this version.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

/// The published OCSF models (Prowler's), which the end-to-end test validates
/// findings.ocsf.json with.
pub const OCSF_MODELS_REQUIREMENT: &str = "py-ocsf-models==0.10.0";

/// Creates `.venv` with moto if it is missing or holds another version.
pub fn ensure_venv(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".kmsaudit-moto");
    let wanted = format!("{MOTO_REQUIREMENT} {OCSF_MODELS_REQUIREMENT}");
    if stamp.exists() && std::fs::read_to_string(&stamp).unwrap_or_default() == wanted {
        return Ok(venv);
    }
    eprintln!("xtask: creating {} with {wanted}", venv.display());
    let status = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("running python3 -m venv")?;
    anyhow::ensure!(status.success(), "python3 -m venv failed");
    let status = std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
            OCSF_MODELS_REQUIREMENT,
        ])
        .status()
        .context("running pip")?;
    anyhow::ensure!(status.success(), "pip install {wanted} failed");
    std::fs::write(&stamp, &wanted)?;
    Ok(venv)
}

/// A free loopback port (bound and released; the window for a race is tiny).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running moto server; killed when dropped.
pub struct Moto {
    pub url: String,
    _child: Child,
}

pub async fn start(venv: &Path, log: &Path) -> anyhow::Result<Moto> {
    let port = free_port()?;
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let child = Command::new(venv.join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        // AWS managed policies (PowerUserAccess...) exist, as in AWS, for fixtures to attach.
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .context("starting moto_server")?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "moto did not start listening on {url} within 60 s (log: {})",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Moto { url, _child: child })
}
